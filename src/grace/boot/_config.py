"""The ``boot:`` section of grace.yaml: which stages run, what they check, what is snapshotted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grace._docstrings import DOCUMENTED

__all__ = (
    "BUILTIN_STAGES",
    "BootConfig",
    "CommandCheck",
    "HttpCheck",
    "StageConfig",
    "StageKind",
)

StageKind = Literal[
    "preflight",
    "schema_sync",
    "core_services",
    "startup_playbooks",
    "codec_validation",
    "autonomy_load",
    "smoke_tests",
    "continuous_monitor",
    "checks",
]
"""What a stage does: one of the eight built-in stages, or ``checks`` (only its commands/http)."""

BUILTIN_STAGES: tuple[tuple[str, bool], ...] = (
    ("preflight", True),
    ("schema_sync", True),
    ("core_services", True),
    ("startup_playbooks", False),
    ("codec_validation", True),
    ("autonomy_load", True),
    ("smoke_tests", True),
    ("continuous_monitor", False),
)
"""The seeds' eight stages, in order, with whether each is critical by default."""

_NAME = r"^[a-z0-9_]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)


class CommandCheck(_Strict):
    """A command that must exit with ``expect_exit`` (argv list: never a shell string)."""

    name: str = Field(pattern=_NAME, max_length=100)
    """Shown in the report."""
    argv: list[str] = Field(min_length=1)
    """The program and its arguments."""
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """Killed and failed after this long."""
    expect_exit: int = 0
    """The exit status that means success."""
    cwd: Path | None = None
    """Working directory (default: Grace's)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables."""
    service: str = ""
    """With ``grace boot --service NAME``, only checks of that service (or of none) run."""


class HttpCheck(_Strict):
    """A URL that must answer ``expect_status``."""

    name: str = Field(pattern=_NAME, max_length=100)
    """Shown in the report."""
    url: str = Field(pattern=r"^https?://")
    """What to GET."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """The status that means success."""
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    """Failed after this long."""
    service: str = ""
    """With ``grace boot --service NAME``, only checks of that service (or of none) run."""


class StageConfig(_Strict):
    """One stage: a built-in one (by name) adjusted, or a new stage of checks."""

    name: str = Field(pattern=_NAME, max_length=100)
    """A built-in stage's name adjusts that stage; a new name adds a stage before the monitor."""
    kind: StageKind | None = None
    """Default: the name when it is a built-in stage, else ``checks``."""
    critical: bool | None = None
    """A critical stage that fails stops the boot (and rolls back to the snapshot)."""
    enabled: bool = True
    """False: the stage is skipped (shown as skipped in the report)."""
    commands: list[CommandCheck] = Field(default_factory=list)
    """Commands run after the stage's built-in checks (``core_services`` runs them with
    ``GRACE_SAFE_MODE=1``)."""
    http: list[HttpCheck] = Field(default_factory=list)
    """URLs checked after the commands."""


class BootConfig(_Strict):
    """``grace boot``: its stages, the pre-boot snapshot, and what the built-in stages check."""

    stages: list[StageConfig] = Field(default_factory=list)
    """Adjustments of the eight built-in stages, and extra stages (docs/boot.md)."""
    snapshot: bool = False
    """Take a pre-boot snapshot (also: env ``AUTO_SNAPSHOT_BEFORE_BOOT`` truthy)."""
    snapshot_files: list[Path] = Field(default_factory=list)
    """Config files to snapshot, besides the grace.yaml in use."""
    snapshot_databases: list[Path] = Field(default_factory=list)
    """SQLite databases to snapshot (online backup API). Grace's own store is never rolled back:
    its audit log records the boot, including the rollback."""
    required_secrets: list[str] = Field(default_factory=list)
    """Environment variables ``schema_sync`` requires to be set and non-empty."""
    startup_playbooks: list[str] = Field(default_factory=list)
    """Playbooks run (through the governor) by ``startup_playbooks``, in order."""
    core_services: list[str] | None = None
    """Supervised services (from ``services:``) that must be running; default: all of them."""
    require_monitor: bool = False
    """True: ``continuous_monitor`` fails when no ``grace serve`` is running."""
    apply_fixes: bool = True
    """Classify failures against the knowledge base and run (or propose) the fix playbook."""
    knowledge_file: Path | None = None
    """Another knowledge base file instead of the bundled one."""

    @model_validator(mode="after")
    def _unique_stages(self) -> BootConfig:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            msg = f"stage {dupes[0]!r} is listed twice"
            raise ValueError(msg)
        return self

    def resolved_stages(self) -> list[StageConfig]:
        """The stages in run order: the built-in eight with their adjustments, extras before
        the monitor, each with its ``kind`` and ``critical`` filled in."""
        given = {s.name: s for s in self.stages}
        builtin = dict(BUILTIN_STAGES)
        out: list[StageConfig] = []
        for name, critical in BUILTIN_STAGES:
            stage = given.get(name) or StageConfig(name=name)
            out.append(_filled(stage, name, critical))  # type: ignore[arg-type]
        extras = [
            _filled(s, s.kind or "checks", True if s.critical is None else s.critical)
            for s in self.stages
            if s.name not in builtin
        ]
        return out[:-1] + extras + out[-1:]


def _filled(stage: StageConfig, kind: StageKind, critical: bool) -> StageConfig:
    return stage.model_copy(
        update={
            "kind": stage.kind or kind,
            "critical": critical if stage.critical is None else stage.critical,
        }
    )
