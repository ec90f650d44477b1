"""The ``watchdog:`` section of grace.yaml: heartbeats, timeouts, restart limits, peer commands.

Pure data (pydantic, ``extra="forbid"``); every field is documented in docs/configuration.md
and docs/watchdog.md.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grace._docstrings import DOCUMENTED
from grace.supervisor._config import BackoffConfig, StartLimitConfig

__all__ = ("EmergencyConfig", "WatchdogConfig")


class EmergencyConfig(BaseModel):
    """Tier 3: what ``grace watchdog`` does when both healer components are down."""

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    enabled: bool = True
    """Run the emergency protocol (delegate, force-restart, verify, revoke); off: only tier 2."""
    stop_timeout_s: float = Field(default=5.0, gt=0, le=600)
    """A hung ``grace serve`` gets SIGCONT and SIGTERM, then SIGKILL after this long."""
    verify_attempts: int = Field(default=10, ge=1, le=1000)
    """How many times the restarted healers are checked before the protocol gives up."""
    verify_interval_s: float = Field(default=2.0, gt=0, le=600)
    """Seconds between two verification attempts."""
    delegation_ttl_s: float = Field(default=120.0, gt=0, le=86400)
    """A delegation grant expires after this long even if the watchdog dies holding it (the
    protocol's 120 s SLO): ``grace serve`` then resumes watching the watchdog."""
    cooldown_s: float = Field(default=300.0, ge=0, le=86400)
    """After a protocol that failed, wait this long before trying it again (a ticket is open)."""


class WatchdogConfig(BaseModel):
    """The healer watchdog (docs/watchdog.md).

    The in-process watchdog of ``grace serve`` always runs. ``enabled`` adds the mutual watch
    with the standalone ``grace watchdog`` process (tier 2) and its emergency protocol (tier 3).
    """

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    enabled: bool = False
    """``grace serve`` and ``grace watchdog`` watch and restart each other."""
    check_s: float = Field(default=0.5, gt=0, le=60)
    """How often the in-process watchdog looks at the components' heartbeats."""
    heartbeat_s: float = Field(default=1.0, gt=0, le=60)
    """How often heartbeat rows (``grace.runner``, ``grace.api``…) are written to the store."""
    component_timeout_s: float = Field(default=60.0, gt=0, le=86400)
    """A component silent this long is stalled: it is cancelled and restarted in-process."""
    component_timeouts: dict[str, float] = Field(default_factory=dict)
    """Per-component overrides of ``component_timeout_s`` (``runner``, ``sources``, ``api``,
    ``supervisor``, ``peers``)."""
    restart_limit: StartLimitConfig = Field(
        default_factory=lambda: StartLimitConfig(burst=5, window_s=300.0)
    )
    """At most ``burst`` restarts of one component, or of one peer process, in ``window_s``.
    A component past it stops ``grace serve`` (tier 2 takes over); a peer past it waits for
    the emergency protocol or an operator."""
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    """Delay before a restart after consecutive unstable runs (as for services)."""
    stable_after_s: float = Field(default=60.0, gt=0, le=86400)
    """A component or peer up this long is stable: its restart count and backoff are cleared."""
    peer_check_s: float = Field(default=1.0, gt=0, le=600)
    """How often each process checks the other (pidfile identity and heartbeat row)."""
    peer_timeout_s: float = Field(default=15.0, gt=0, le=86400)
    """A live peer whose heartbeat rows are older than this is hung."""
    start_grace_s: float = Field(default=30.0, ge=0, le=3600)
    """After a peer (re)starts, missing heartbeats are not held against it for this long."""
    serve_command: list[str] | None = None
    """argv that starts ``grace serve``; default: how the last one was started (its pidfile),
    else ``[python, -m, grace, --config <this config>, --data-dir <data dir>, serve]``."""
    watchdog_command: list[str] | None = None
    """argv that starts ``grace watchdog``; default as for ``serve_command``."""
    emergency: EmergencyConfig = Field(default_factory=EmergencyConfig)
    """Tier 3: both healer components down (docs/watchdog.md, "Emergency protocol")."""

    @model_validator(mode="before")
    @classmethod
    def _from_json(cls, value: Any) -> Any:
        # GRACE_WATCHDOG='{"enabled": true}' in the environment arrives as a string.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                msg = "the watchdog setting must be a mapping (in the environment: a JSON object)"
                raise ValueError(msg) from None
        return value

    @model_validator(mode="after")
    def _commands_not_empty(self) -> WatchdogConfig:
        for field_name in ("serve_command", "watchdog_command"):
            argv = getattr(self, field_name)
            if argv is not None and (not argv or not argv[0]):
                msg = f"{field_name} must be a non-empty argv list, like [grace, serve]"
                raise ValueError(msg)
        for name, timeout in self.component_timeouts.items():
            if timeout <= 0:
                msg = f"component_timeouts.{name} must be > 0 seconds (got {timeout})"
                raise ValueError(msg)
        return self

    def timeout_of(self, component: str) -> float:
        """The stall timeout of ``component``."""
        return self.component_timeouts.get(component, self.component_timeout_s)
