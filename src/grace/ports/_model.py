"""The port inventory's value types: registry rows, live listeners, verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = (
    "CREATE_TIME_TOLERANCE_S",
    "Listener",
    "PortRecord",
    "ProcessInfo",
    "Source",
    "Verdict",
    "VerdictKind",
)

Source = Literal["declared", "observed", "claimed"]
"""How a row got into the registry: ``declared`` in grace.yaml (``ports.services``),
``observed`` by a scan (a listener nobody had registered), ``claimed`` through the CLI,
the API or an action."""

VerdictKind = Literal["ok", "quiet", "conflict", "dead_pid", "pid_reused", "not_listening"]
"""``ok``: its owner listens. ``quiet``: nobody listens, still within the grace period.
``conflict``: another process holds it (reported, never pruned). The last three are stale."""

STALE_KINDS: frozenset[str] = frozenset({"dead_pid", "pid_reused", "not_listening"})

CREATE_TIME_TOLERANCE_S = 0.01
"""Two create times closer than this are the same process (psutil reports 10 ms ticks)."""


@dataclass(frozen=True, slots=True)
class PortRecord:
    """One registry row: who owns a port, and since when."""

    port: int
    service: str
    source: Source
    claimed_at: datetime
    claimed_by: str
    protocol: str = "tcp"
    pid: int | None = None
    """The owner process, when known (claimed with a listener, or adopted by a scan)."""
    create_time: float | None = None
    """The owner process's create time (psutil, epoch seconds): tells a reused pid apart."""
    last_seen_at: datetime | None = None
    """When a scan last found someone listening on the port."""
    revision: int = 0
    """Bumped by every write: prune deletes a row only at the revision it judged."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (``grace ports list --json``)."""
        return {
            "port": self.port,
            "protocol": self.protocol,
            "service": self.service,
            "source": self.source,
            "pid": self.pid,
            "create_time": self.create_time,
            "claimed_at": self.claimed_at.isoformat(),
            "claimed_by": self.claimed_by,
            "last_seen_at": None if self.last_seen_at is None else self.last_seen_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Listener:
    """A TCP socket in LISTEN state found by a scan."""

    port: int
    address: str
    pid: int | None = None
    """None when the socket's owner could not be read (another user's process: access denied)."""
    name: str = ""
    cmdline: tuple[str, ...] = ()
    create_time: float | None = None

    @property
    def owner_known(self) -> bool:
        """Whether the owning process could be identified."""
        return self.pid is not None and self.create_time is not None

    def describe(self) -> str:
        """``pid 123 (python3)`` or ``unknown owner``."""
        if self.pid is None:
            return "unknown owner"
        return f"pid {self.pid} ({self.name or '?'})"

    def to_json(self) -> dict[str, Any]:
        """JSON form (``grace ports scan --json``)."""
        return {
            "port": self.port,
            "address": self.address,
            "pid": self.pid,
            "name": self.name or None,
            "cmdline": list(self.cmdline),
            "create_time": self.create_time,
            "owner": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What is known of a pid right now."""

    pid: int
    alive: bool
    create_time: float | None = None
    ancestors: tuple[int, ...] = ()
    """Parent, grandparent… (a service's worker process listens for its supervised parent)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the staleness rules say about one registered port."""

    record: PortRecord
    kind: VerdictKind
    reason: str
    listener: Listener | None = None
    adopt: Listener | None = field(default=None)
    """A listener whose process should become the row's owner (the row had none)."""

    @property
    def stale(self) -> bool:
        """Whether ``prune`` removes the row."""
        return self.kind in STALE_KINDS

    def to_json(self) -> dict[str, Any]:
        """JSON form (``grace ports prune --json``)."""
        return {
            **self.record.to_json(),
            "verdict": self.kind,
            "stale": self.stale,
            "reason": self.reason,
            "listener": None if self.listener is None else self.listener.to_json(),
        }
