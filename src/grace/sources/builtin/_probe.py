"""What the ``http`` and ``tcp`` probes share: their config fields, the transition tracker and the
poll loop.

A probe turns a stream of pass/fail checks into *transitions*: ``down`` after N consecutive
failures (once), optional ``reminder`` events while it stays down, and ``recovered`` on the first
pass after a ``down``. The failure count is per-process memory, which is acceptable for probes: a
restart re-counts from zero, so it only delays the next ``down`` by at most N polls. Each
transition's event key is derived from the time the failure streak began, so re-emitting the same
transition is a no-op in the store, and a later outage (even after a restart) gets a new key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from grace.events import Event
from grace.sources._base import Emit, SourceConfig, SourceContext

__all__ = (
    "ProbeConfig",
    "ProbeResult",
    "ProbeTracker",
    "Transition",
    "caused_by_refusal",
    "run_probe",
)


class ProbeConfig(SourceConfig):
    """Fields every probe has."""

    interval_s: float = Field(default=10.0, ge=0.1, le=3600)
    """Seconds between the starts of two checks."""
    timeout_s: float = Field(default=2.0, gt=0, le=300)
    """Seconds one check may take before it counts as failed (``timeout``)."""
    failures_before_event: int = Field(default=3, ge=1, le=100)
    """Consecutive failures before the one ``down`` event."""
    reminder_every: int = Field(default=0, ge=0, le=100_000)
    """While still down, emit again every this many further failures (0: never)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one check."""

    ok: bool
    detail: str
    """What was seen, for messages: ``503``, ``connection refused``, ``timeout after 2s``."""
    reason: str = ""
    """A short machine word for failures: ``status``, ``body``, ``refused``, ``timeout``, ``error``."""
    elapsed_ms: float = 0.0
    status: int | None = None
    """The HTTP status, when there was one."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A change worth an event."""

    kind: Literal["down", "reminder", "recovered"]
    failures: int
    """Consecutive failures so far (``down``, ``reminder``) or of the whole outage (``recovered``)."""
    since: datetime
    """When the failure streak began."""
    key: str
    """The event key: stable for this transition, new for every outage."""


class ProbeTracker:
    """Counts consecutive failures and says when a transition happens. Pure: time is passed in."""

    def __init__(self, name: str, failures_before_event: int, reminder_every: int = 0) -> None:
        self._name = name
        self._threshold = failures_before_event
        self._reminder_every = reminder_every
        self.failures = 0
        """Consecutive failures so far."""
        self.down = False
        """True once the ``down`` event of the current streak was emitted."""
        self._since: datetime | None = None

    def observe(self, ok: bool, now: datetime) -> Transition | None:
        """Record one check; return the transition it causes, if any."""
        if ok:
            transition = None
            if self.down and self._since is not None:
                since = self._since
                transition = Transition(
                    "recovered", self.failures, since, f"{self._name}:up:{_stamp(since)}"
                )
            self.failures, self.down, self._since = 0, False, None
            return transition
        self.failures += 1
        if self._since is None:
            self._since = now
        base = f"{self._name}:down:{_stamp(self._since)}"
        if not self.down:
            if self.failures >= self._threshold:
                self.down = True
                return Transition("down", self.failures, self._since, base)
            return None
        extra = self.failures - self._threshold
        if self._reminder_every and extra % self._reminder_every == 0:
            return Transition("reminder", self.failures, self._since, f"{base}:{self.failures}")
        return None


def caused_by_refusal(exc: BaseException) -> bool:
    """True when a connection refusal is anywhere in the chain (anyio and httpx wrap it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def run_probe(
    ctx: SourceContext,
    emit: Emit,
    *,
    interval_s: float,
    tracker: ProbeTracker,
    check: Callable[[], Awaitable[ProbeResult]],
    to_event: Callable[[Transition, ProbeResult], Event],
) -> None:
    """Check, track, emit transitions, sleep for the rest of the interval; until cancelled."""
    while True:
        started = ctx.clock.monotonic()
        result = await check()
        transition = tracker.observe(result.ok, ctx.clock.now())
        if transition is not None:
            await emit(to_event(transition, result), transition.key)
        spent = ctx.clock.monotonic() - started
        await ctx.clock.sleep(max(0.0, interval_s - spent))
