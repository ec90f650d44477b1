"""The ``services:`` setting: what the supervisor runs, how it checks it, when it gives up.

Pure data (pydantic, ``extra="forbid"``). :func:`parse_services` turns the raw list from
``grace.yaml`` into typed configs and names ``services[i].field`` and where the list was set
(``grace.yaml:12``) in every error.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grace.errors import ConfigError

__all__ = (
    "BackoffConfig",
    "ExecCheck",
    "HealthCheck",
    "HeartbeatCheck",
    "HttpCheck",
    "RestartPolicy",
    "ServiceConfig",
    "StartLimitConfig",
    "TcpCheck",
    "parse_services",
)

RestartPolicy = Literal["always", "on-failure", "never"]
"""``always``: restart whenever the process ends or hangs. ``on-failure``: unless it exited 0.
``never``: record the exit and leave it stopped."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Probe(_Model):
    interval_s: float = Field(default=1.0, gt=0, le=3600)
    """Seconds between probe starts (a fixed cadence: a slow probe does not delay the next)."""
    timeout_s: float = Field(default=1.0, gt=0, le=600)
    """A probe that has not answered within this counts as a failure."""
    failures: int = Field(default=3, ge=1, le=1000)
    """Consecutive failures that mean "hung": the service is restarted."""
    start_grace_s: float = Field(default=5.0, ge=0, le=3600)
    """After a (re)start, failures in this period are not counted. Probing still runs from
    the first moment (no blind window): the first success is seen at once."""


class HttpCheck(_Probe):
    """GET ``url``; healthy when the status is ``expect_status``."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    expect_status: int = Field(default=200, ge=100, le=599)


class TcpCheck(_Probe):
    """Healthy when a TCP connection to ``host:port`` opens."""

    type: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class HeartbeatCheck(_Probe):
    """Healthy when Grace's heartbeat record ``name`` was pinged within ``max_age_s``."""

    type: Literal["heartbeat"]
    name: str = Field(min_length=1)
    max_age_s: float = Field(default=30.0, gt=0)


class ExecCheck(_Probe):
    """Healthy when ``argv`` exits 0 within the timeout."""

    type: Literal["exec"]
    argv: list[str] = Field(min_length=1)


HealthCheck = Annotated[
    HttpCheck | TcpCheck | HeartbeatCheck | ExecCheck, Field(discriminator="type")
]
"""One health check; ``type`` picks the kind."""


class BackoffConfig(_Model):
    """Delay before restarting a service whose last run was not stable.

    A crash of a *stable* run (up ``reset_after_s``) restarts at once; the n-th consecutive
    unstable run waits ``min(max_s, initial_s * multiplier**(n-1))``, ± ``jitter`` of it.
    """

    initial_s: float = Field(default=0.5, ge=0, le=3600)
    max_s: float = Field(default=30.0, ge=0, le=86400)
    multiplier: float = Field(default=2.0, ge=1, le=100)
    jitter: float = Field(default=0.1, ge=0, le=1)
    """Fraction of the delay added or removed at random (spreads restarts of many services)."""


class StartLimitConfig(_Model):
    """At most ``burst`` automatic starts within ``window_s`` seconds; then ``fatal``."""

    burst: int = Field(default=5, ge=1, le=10_000)
    window_s: float = Field(default=60.0, gt=0, le=86400 * 7)


class ServiceConfig(_Model):
    """One supervised service (docs/supervisor.md)."""

    name: str
    """Unique, ``[a-z0-9][a-z0-9_.-]*``: the service name in events, runs, audit and files."""
    argv: list[str] = Field(min_length=1)
    """The command, as an argument list (never a shell string)."""
    cwd: Path | None = None
    env: dict[str, str] = Field(default_factory=dict)
    """Added to (and overriding) Grace's own environment."""
    user: str | None = None
    """Run as this user (Grace must be root to switch)."""
    health: list[HealthCheck] = Field(default_factory=list)
    restart: RestartPolicy = "always"
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    start_limit: StartLimitConfig = Field(default_factory=StartLimitConfig)
    reset_after_s: float = Field(default=10.0, ge=0, le=86400)
    """A run that stays up (and not failing its checks) this long is *stable*: the start-limit
    count and the backoff are cleared."""
    stop_signal: str = "SIGTERM"
    stop_timeout_s: float = Field(default=5.0, ge=0, le=3600)
    """After the stop signal, how long before SIGKILL."""
    autostart: bool = True
    """Start with ``grace serve`` (otherwise only ``grace services start NAME``)."""
    log: bool = True
    """Capture stdout and stderr to ``<log_dir>/services/<name>.log`` (appended)."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            msg = "must match [a-z0-9][a-z0-9_.-]* (at most 63 characters)"
            raise ValueError(msg)
        return value

    @field_validator("stop_signal")
    @classmethod
    def _check_signal(cls, value: str) -> str:
        name = value.upper()
        if not name.startswith("SIG"):
            name = f"SIG{name}"
        if not hasattr(signal, name) or name.startswith("SIG_"):
            msg = f"unknown signal {value!r} (e.g. SIGTERM, SIGINT, SIGQUIT)"
            raise ValueError(msg)
        return name

    @model_validator(mode="after")
    def _check_backoff(self) -> ServiceConfig:
        if self.backoff.max_s < self.backoff.initial_s:
            msg = "backoff.max_s must be >= backoff.initial_s"
            raise ValueError(msg)
        return self

    @property
    def signal_number(self) -> int:
        """The stop signal as a number."""
        return int(getattr(signal, self.stop_signal))


def parse_services(
    raw: Sequence[Mapping[str, Any]], *, where: str = "grace.yaml"
) -> list[ServiceConfig]:
    """Validate the ``services:`` list.

    Args:
        raw: the list as read from the settings.
        where: where the list came from (``grace.yaml:12``), for messages.

    Raises:
        ConfigError: naming ``services[i].field``, ``where`` and the fix.
    """
    out: list[ServiceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        try:
            service = ServiceConfig.model_validate(dict(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            path = f"services[{i}].{field}" if field else f"services[{i}]"
            msg = f"{where}: {path}: {err['msg']}"
            raise ConfigError(msg, hint="see docs/supervisor.md for the fields") from exc
        except TypeError as exc:
            msg = f"{where}: services[{i}] must be a mapping"
            raise ConfigError(msg, hint="see docs/supervisor.md") from exc
        if service.name in seen:
            msg = f"{where}: services[{i}].name: {service.name!r} is used twice"
            raise ConfigError(msg, hint="service names must be unique")
        seen.add(service.name)
        out.append(service)
    return out
