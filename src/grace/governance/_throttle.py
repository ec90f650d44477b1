"""Throttles, the Event-Driven Ansible way, as one pure state transition per event.

A playbook's ``throttle:`` block limits how often it fires for one group key (playbook,
service, signature). Exactly one window is set:

- ``once_within: W``: the first event fires; the next fire is allowed W after it. Events in
  between are suppressed and counted.
- ``once_after: W``: the first event opens a window and is held; events in it are counted and
  held; when the window ends the group fires once (a periodic sweeper calls
  :func:`throttle_due` then :func:`flush_throttle`; an event arriving after the end flushes too).
- ``accumulate_within: W`` with ``threshold: N``: fire once N events arrived within W of the
  first; an event after the window expired starts a new window.

The state (:class:`ThrottleState`) lives in a database row; this module only computes the next
state from the current one, the throttle and ``now``. Times going backwards (a clock step, rows
written by a node whose clock is ahead) never crash: an event before the window's start counts
as inside it.

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from grace.durations import MAX_SECONDS, format_duration

__all__ = (
    "ThrottleLike",
    "ThrottleResult",
    "ThrottleState",
    "check_throttle",
    "flush_throttle",
    "throttle_due",
    "validate_throttle",
)

_WINDOWS = ("once_within", "once_after", "accumulate_within")


class ThrottleLike(Protocol):
    """A throttle as configured: windows in seconds, exactly one of the three set.

    Read-only members, so a frozen pydantic model or a frozen dataclass satisfies it.
    """

    @property
    def once_within(self) -> float | None:
        """Fire at most once per this many seconds; suppress the events in between."""

    @property
    def once_after(self) -> float | None:
        """Hold events for this many seconds after the first, then fire once."""

    @property
    def accumulate_within(self) -> float | None:
        """Fire once ``threshold`` events arrived within this many seconds."""

    @property
    def threshold(self) -> int | None:
        """With ``accumulate_within`` only (and required there): how many events fire, ≥ 1."""


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """Where one group key stands. The initial state is ``ThrottleState()``."""

    window_start: datetime | None = None
    """When the open window began (``once_after``, ``accumulate_within``); None when closed."""
    count: int = 0
    """Events suppressed since the last fire (``once_within``) or in the open window."""
    last_fire: datetime | None = None
    """When the group last fired; None when it never has."""

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            msg = f"throttle state: count must be an int, got {self.count!r}"
            raise TypeError(msg)
        if self.count < 0:
            msg = f"throttle state: count must be ≥ 0, got {self.count}"
            raise ValueError(msg)
        for what in ("window_start", "last_fire"):
            _require_aware(getattr(self, what), f"throttle state: {what}", optional=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: datetimes as ISO 8601 strings (or None)."""
        return {
            "window_start": _iso(self.window_start),
            "count": self.count,
            "last_fire": _iso(self.last_fire),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThrottleState:
        """The state :meth:`to_dict` wrote; missing keys take their initial values.

        Raises:
            ValueError: a value is not what :meth:`to_dict` writes.
        """
        count = data.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int):
            msg = f"throttle state: count must be an int, got {count!r}"
            raise ValueError(msg)  # noqa: TRY004 - a bad record is a bad value, as every from_dict error
        return cls(
            window_start=_parse_time(data.get("window_start"), "window_start"),
            count=count,
            last_fire=_parse_time(data.get("last_fire"), "last_fire"),
        )


@dataclass(frozen=True, slots=True)
class ThrottleResult:
    """What one event (or one sweep) did to a group."""

    fire: bool
    """True: run the playbook now. False: the event is throttled (suppressed or held)."""
    state: ThrottleState
    """The state to write back to the row."""
    reason: str
    """A sentence for the audit log, starting with ``fired:`` or ``throttled:``."""


def validate_throttle(spec: ThrottleLike) -> None:
    """Check that exactly one window is set, positive, and ``threshold`` goes with the right one.

    Raises:
        ValueError: what is wrong and how to fix it.
    """
    chosen = [name for name in _WINDOWS if getattr(spec, name) is not None]
    if len(chosen) != 1:
        got = " and ".join(chosen) if chosen else "none"
        msg = (
            "throttle: set exactly one of once_within, once_after, accumulate_within "
            f"(got {got}), e.g. 'once_within: 5 minutes'"
        )
        raise ValueError(msg)
    name = chosen[0]
    window = getattr(spec, name)
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or not math.isfinite(window)
        or not 0 < window <= MAX_SECONDS
    ):
        msg = f"throttle: {name} must be a duration above zero (like 5m), got {window!r}"
        raise ValueError(msg)
    threshold = spec.threshold
    if name != "accumulate_within":
        if threshold is not None:
            msg = (
                f"throttle: threshold only goes with accumulate_within, not {name}; "
                "remove it, or use accumulate_within to fire after that many events"
            )
            raise ValueError(msg)
        return
    if threshold is None:
        msg = (
            "throttle: accumulate_within needs a threshold (how many events within the "
            "window fire once), e.g. 'threshold: 3'"
        )
        raise ValueError(msg)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        msg = f"throttle: threshold must be a whole number ≥ 1, got {threshold!r}"
        raise ValueError(msg)


def check_throttle(spec: ThrottleLike, state: ThrottleState, now: datetime) -> ThrottleResult:
    """One event of the group arrives at ``now``: fire or not, and the next state.

    Raises:
        ValueError: ``spec`` is invalid (see :func:`validate_throttle`) or ``now`` is naive.
    """
    validate_throttle(spec)
    _require_aware(now, "now")
    if spec.once_within is not None:
        return _once_within(spec.once_within, state, now)
    if spec.once_after is not None:
        return _once_after(spec.once_after, state, now)
    assert spec.accumulate_within is not None  # validate_throttle: exactly one is set
    assert spec.threshold is not None
    return _accumulate(spec.accumulate_within, spec.threshold, state, now)


def throttle_due(spec: ThrottleLike, state: ThrottleState, now: datetime) -> bool:
    """Whether a held ``once_after`` window has ended by ``now`` and should fire.

    Always False for the other modes and when nothing is held.
    """
    validate_throttle(spec)
    _require_aware(now, "now")
    window = spec.once_after
    start = state.window_start
    return window is not None and start is not None and _elapsed(start, now) >= window


def flush_throttle(spec: ThrottleLike, state: ThrottleState, now: datetime) -> ThrottleResult:
    """Fire the held ``once_after`` window when it is due (state reset, ``last_fire=now``).

    When it is not due (nothing held, still open, another mode) nothing changes and ``fire`` is
    False, so a sweeper that read a stale row never fires early or twice.
    """
    if not throttle_due(spec, state, now):
        return ThrottleResult(False, state, _not_due(spec, state, now))
    assert spec.once_after is not None  # throttle_due
    assert state.window_start is not None
    window = spec.once_after
    start = state.window_start
    reason = (
        f"fired: once_after {format_duration(window)}, window from {_at(start, now)} ended "
        f"at {_plus(start, window, now)}; {_events(state.count)} held"
    )
    return ThrottleResult(True, ThrottleState(last_fire=now), reason)


def _once_within(window: float, state: ThrottleState, now: datetime) -> ThrottleResult:
    shown = format_duration(window)
    last = state.last_fire
    if last is None:
        return ThrottleResult(True, ThrottleState(last_fire=now), f"fired: once_within {shown}")
    elapsed = _elapsed(last, now)
    if elapsed >= window:
        since = f", {state.count} suppressed since" if state.count else ""
        reason = (
            f"fired: once_within {shown}, last fired {format_duration(elapsed)} ago "
            f"at {_at(last, now)}{since}"
        )
        return ThrottleResult(True, ThrottleState(last_fire=now), reason)
    count = state.count + 1
    reason = (
        f"throttled: once_within {shown}, fired at {_at(last, now)}, {count} suppressed since; "
        f"may fire again from {_plus(last, window, now)}"
    )
    return ThrottleResult(False, ThrottleState(last_fire=last, count=count), reason)


def _once_after(window: float, state: ThrottleState, now: datetime) -> ThrottleResult:
    shown = format_duration(window)
    start = state.window_start
    if start is None:
        held = ThrottleState(window_start=now, count=1, last_fire=state.last_fire)
        reason = (
            f"throttled: once_after {shown}, window opened at {_at(now, now)}, "
            f"fires at {_plus(now, window, now)}"
        )
        return ThrottleResult(False, held, reason)
    count = state.count + 1
    if _elapsed(start, now) >= window:
        reason = (
            f"fired: once_after {shown}, window from {_at(start, now)} ended "
            f"at {_plus(start, window, now)}; {_events(count)} held, this one included"
        )
        return ThrottleResult(True, ThrottleState(last_fire=now), reason)
    reason = (
        f"throttled: once_after {shown}, {_events(count)} held since {_at(start, now)}, "
        f"fires at {_plus(start, window, now)}"
    )
    return ThrottleResult(False, replace(state, count=count), reason)


def _accumulate(
    window: float, threshold: int, state: ThrottleState, now: datetime
) -> ThrottleResult:
    shown = format_duration(window)
    start = state.window_start
    if start is None or _elapsed(start, now) >= window:
        start, count = now, 1
    else:
        count = state.count + 1
    if count >= threshold:
        reason = (
            f"fired: accumulate_within {shown}, {_events(count)} since {_at(start, now)} "
            f"reached the threshold of {threshold}"
        )
        return ThrottleResult(True, ThrottleState(last_fire=now), reason)
    reason = (
        f"throttled: accumulate_within {shown}, {count} of {threshold} events since "
        f"{_at(start, now)}; the window closes at {_plus(start, window, now)}"
    )
    held = ThrottleState(window_start=start, count=count, last_fire=state.last_fire)
    return ThrottleResult(False, held, reason)


def _not_due(spec: ThrottleLike, state: ThrottleState, now: datetime) -> str:
    window = spec.once_after
    if window is None:
        return "throttled: nothing to flush, the throttle is not once_after"
    start = state.window_start
    if start is None:
        return f"throttled: once_after {format_duration(window)}, nothing held"
    return (
        f"throttled: once_after {format_duration(window)}, {_events(state.count)} held "
        f"since {_at(start, now)}, fires at {_plus(start, window, now)}"
    )


def _elapsed(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds()


def _at(moment: datetime, now: datetime) -> str:
    """``10:00:00Z`` on the same UTC day as ``now``, else ``2024-05-01 10:00:00Z``."""
    utc = moment.astimezone(UTC)
    if utc.date() == now.astimezone(UTC).date():
        return utc.strftime("%H:%M:%SZ")
    return utc.strftime("%Y-%m-%d %H:%M:%SZ")


def _plus(moment: datetime, seconds: float, now: datetime) -> str:
    try:
        return _at(moment + timedelta(seconds=seconds), now)
    except OverflowError:
        return "the end of time"


def _events(count: int) -> str:
    return f"{count} event" if count == 1 else f"{count} events"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(value: object, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        msg = f"throttle state: {what} must be an ISO 8601 string or null, got {value!r}"
        raise ValueError(msg)  # noqa: TRY004 - a bad record is a bad value, as every from_dict error
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"throttle state: {what} is not ISO 8601: {value!r}"
        raise ValueError(msg) from None


def _require_aware(value: object, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, datetime):
        msg = f"{what} must be a datetime, got {value!r}"
        raise TypeError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{what} must be timezone-aware, got {value.isoformat()} (add a UTC offset)"
        raise ValueError(msg)
