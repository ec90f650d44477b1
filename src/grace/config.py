"""One typed settings object, built once at the entry point and passed down.

Precedence, highest first: command-line flags, environment (``GRACE_*``; the seeds'
``SELF_HEAL_*`` names where they exist), ``grace.yaml``, defaults. :func:`load_settings`
also reports where each value came from (``grace config show``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from grace.boot._config import BootConfig
from grace.errors import ConfigError
from grace.governance._config import GovernanceConfig
from grace.ports._config import PortsConfig
from grace.watchdog._config import WatchdogConfig

__all__ = ("DEFAULT_CONFIG_FILE", "ApiSettings", "Settings", "load_settings")

DEFAULT_CONFIG_FILE = "grace.yaml"


class ApiSettings(BaseModel):
    """The HTTP API's access control (docs/api-auth.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: bool = True
    """Require a token (or a dashboard session) on every route but ``open_paths``. Turning it
    off lets anyone who can reach the port act as admin: only for a closed lab."""
    open_paths: tuple[str, ...] = ("/health", "/metrics")
    """Served without credentials; a trailing ``*`` matches a prefix (``/api/heartbeats/*``)."""
    token_cache_s: float = Field(default=10.0, ge=0, le=3600)
    """How long a checked token is trusted before the database is asked again (a token
    revoked by another process stops working within this time)."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a dashboard login lasts."""


class Settings(BaseModel):
    """Everything Grace can be told. Every field is documented in ``docs/configuration.md``."""

    # A plain model: :func:`load_settings` reads env and grace.yaml itself, so that it can say
    # where each value came from (and so that importing Grace stays light).
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    data_dir: Path = Path(".grace")
    """Where the SQLite database, the audit signing key and backups live."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/grace.db``."""
    playbook_dirs: list[Path] = Field(default_factory=list)
    """Extra playbook folders, searched after the bundled library (``:``-separated in env)."""
    bundled_playbooks: bool = True
    """Load the playbooks shipped with Grace."""
    mode: Literal["observe", "execute"] = "observe"
    """``observe``: automatic runs are only proposed. ``execute``: they run."""
    run_timeout_min: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices(
            "run_timeout_min", "GRACE_RUN_TIMEOUT_MIN", "SELF_HEAL_RUN_TIMEOUT_MIN"
        ),
    )
    """A run past this many minutes is aborted and recorded ``timed_out``."""
    log_dir: Path = Path("logs")
    """JSON-lines logs (``grace.jsonl``) and the audit mirror (``immutable_audit.jsonl``)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level written to the log."""
    checkpoint_every: int = Field(default=1000, ge=1, le=1_000_000)
    """Sign an audit checkpoint at least every this many entries."""
    backup_keep: int = Field(default=10, ge=1, le=10_000)
    """How many backups ``file.backup`` keeps per file."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Free-form values for playbooks, visible to templates as ``config.<key>``."""
    sources: list[dict[str, Any]] = Field(default_factory=list)
    """What ``grace serve`` watches: each item has a ``type`` (log, http, tcp, heartbeat…)."""
    services: list[dict[str, Any]] = Field(default_factory=list)
    """What ``grace serve`` supervises: argv, health checks, restart policy (docs/supervisor.md)."""
    listen: str = "127.0.0.1:8000"
    """Where ``grace serve`` listens for events, webhooks, SDK reports and heartbeats."""
    drain_s: float = Field(default=30.0, ge=0, le=3600)
    """On SIGTERM, how long in-flight runs may finish before they are cancelled (``interrupted``)."""
    workers: int = Field(default=4, ge=1, le=256)
    """Runs executed at once by ``grace serve`` (never two on the same service)."""
    queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    """Events waiting for the matcher; when full, sources wait (back-pressure), nothing is dropped."""
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    """Policy matrix, approvals, change windows, dedupe, limits (docs/governance.md)."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    """Tokens, roles and open paths of the HTTP API and dashboard (docs/api-auth.md)."""
    boot: BootConfig = Field(default_factory=BootConfig)
    """``grace boot``: stages, checks, required secrets, the pre-boot snapshot (docs/boot.md)."""
    ports: PortsConfig = Field(default_factory=PortsConfig)
    """The port inventory: range scanned, scan interval, grace period, declared ports (docs/ports.md)."""
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    """The healer watchdog: component heartbeats, in-process restarts, the mutual watch with
    ``grace watchdog`` and the emergency protocol (docs/watchdog.md)."""

    @field_validator("playbook_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'grace.db').as_posix()}"


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        msg = f"{path}: not valid YAML: {exc}"
        raise ConfigError(msg, hint="fix the syntax") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, Mapping):
        msg = f"{path}:1: the top level must be a mapping of settings"
        raise ConfigError(msg)
    marks: Any = data  # ruamel's CommentedMap keeps each key's line in .lc
    lines = {str(k): marks.lc.key(k)[0] + 1 for k in data}
    return _plain(data), lines


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _seed_mode(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The seeds' switches: ``SELF_HEAL_OBSERVE_ONLY`` wins over ``SELF_HEAL_EXECUTE`` (safer)."""
    flags: dict[str, bool] = {}
    for name in ("SELF_HEAL_OBSERVE_ONLY", "SELF_HEAL_EXECUTE"):
        raw = env.get(name)
        if raw is None:
            continue
        flag = raw.strip().lower()
        if flag not in _TRUE | _FALSE:
            msg = f"{name}={raw!r} is not a boolean"
            raise ConfigError(msg, hint=f"set {name}=true or {name}=false")
        flags[name] = flag in _TRUE
    if flags.get("SELF_HEAL_OBSERVE_ONLY"):
        return "observe", "env SELF_HEAL_OBSERVE_ONLY"
    if flags.get("SELF_HEAL_EXECUTE"):
        return "execute", "env SELF_HEAL_EXECUTE"
    return None


def load_settings(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Build the settings and say where each value came from.

    Args:
        config_file: ``grace.yaml`` to read; default ``$GRACE_CONFIG`` or ``./grace.yaml`` if present.
        overrides: values given on the command line (highest precedence).
        environ: the environment (default ``os.environ``).

    Returns:
        The settings, and a map of field name to origin (``env GRACE_MODE``, ``grace.yaml:3``…).

    Raises:
        ConfigError: a value is invalid; the message names the key, its origin and the fix.
    """
    env = dict(os.environ if environ is None else environ)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    path = Path(config_file or env.get("GRACE_CONFIG") or DEFAULT_CONFIG_FILE)
    file_values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if path.is_file():
        file_values, lines = _read_yaml(path)
    elif config_file is not None or "GRACE_CONFIG" in env:
        msg = f"config file {path} does not exist"
        raise ConfigError(msg, hint="check the path or drop --config")
    known = set(Settings.model_fields)
    for key in file_values:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"known settings: {', '.join(sorted(known))}"
            )
            msg = f"{path}:{lines.get(key, 0)}: unknown setting '{key}'"
            raise ConfigError(msg, hint=hint)

    origins: dict[str, str] = {}
    values: dict[str, Any] = {}
    env_names = {name: [f"GRACE_{name.upper()}"] for name in known}
    env_names["run_timeout_min"].append("SELF_HEAL_RUN_TIMEOUT_MIN")
    env_names["config"] = ["GRACE_CONFIG_JSON"]  # GRACE_CONFIG names the config file itself
    for name in known:
        if name in overrides:
            values[name] = overrides[name]
            origins[name] = "command line"
            continue
        env_hit = next((n for n in env_names[name] if n in env), None)
        if name == "mode" and env_hit is None:
            seeded = _seed_mode(env)
            if seeded is not None:
                values[name], origins[name] = seeded
                continue
        if env_hit is not None:
            raw: Any = env[env_hit]
            if name == "config":
                import json

                try:
                    raw = json.loads(raw)
                except ValueError as exc:  # pragma: no cover - message names the variable
                    msg = f"{env_hit} must be a JSON object: {exc}"
                    raise ConfigError(msg) from exc
            values[name] = raw
            origins[name] = f"env {env_hit}"
        elif name in file_values:
            values[name] = file_values[name]
            origins[name] = f"{path}:{lines.get(name, 0)}"
        else:
            origins[name] = "default"
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"
        path_ = ".".join(str(p) for p in err["loc"]) or "?"
        origin = origins.get(key, "?")
        msg = (
            f"setting '{path_}' (from {origin}) is invalid: {err['msg']} (got {err.get('input')!r})"
        )
        raise ConfigError(msg, hint="fix the value where it was set") from exc
    return settings, origins
