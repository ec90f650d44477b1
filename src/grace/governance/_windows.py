"""Change windows and freeze periods: whether changes are allowed at a given instant.

Pure: no I/O, no clock, no logging. The instant is passed in (an aware datetime); only
``ChangeCalendar()`` reads the machine's timezone, once, when none is configured or injected.

Times of day are wall-clock times in the calendar's zone: a window opening at 09:00 opens at
09:00 local on both sides of a DST change. Where the wall clock is odd on a DST day, a window or
a (naive) freeze covers every moment the wall clock reads inside it:

- a time that does not exist (spring forward, 02:30 in Europe/Paris on the last Sunday of
  March) is read as the moment the clocks jump (03:00 CEST): a window 02:30-04:00 opens at
  03:00 that day, a window 22:00-02:30 closes at 03:00, a window 02:15-02:45 does not open;
- a time that happens twice (fall back, 02:30 on the last Sunday of October) opens at its
  first occurrence and closes at its second, so the window never flickers shut and open again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grace._docstrings import DOCUMENTED

__all__ = ("ChangeCalendar", "ChangeWindowConfig", "Freeze", "Weekday", "Window", "WindowState")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAYS: tuple[Weekday, ...] = _DAYS[:5]
_HORIZON = timedelta(days=14)
"""How far ahead window openings and closings are searched (freezes are exact at any distance)."""
_TIME = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?$")
_MICROSECOND = timedelta(microseconds=1)
_DASH = "\u2013"


class _Strict(BaseModel):
    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)


def _time_of_day(value: Any) -> Any:
    """``"09:00"`` → ``time(9, 0)``; refuses numbers (YAML 1.1 reads ``09:00`` as 540)."""
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        m = _TIME.match(value.strip())
        if m:
            return time(int(m["h"]), int(m["m"]), int(m["s"] or 0))
    msg = f"{value!r} is not a time of day: write 'HH:MM' in 24-hour time, e.g. '09:00'"
    raise ValueError(msg)


class Window(_Strict):
    """A weekly change window: on these days, from ``start`` until ``end`` (local wall clock)."""

    days: list[Weekday] = Field(default_factory=lambda: list(_WEEKDAYS))
    """The days the window opens on; a window crossing midnight belongs to the day it opens."""
    start: time = time(9, 0)
    """When the window opens (inclusive), ``HH:MM`` in the calendar's zone."""
    end: time = time(18, 0)
    """When it closes (exclusive). At or before ``start``: the window crosses midnight."""

    @field_validator("days")
    @classmethod
    def _some_days(cls, days: list[Weekday]) -> list[Weekday]:
        if not days:
            raise ValueError("a window needs at least one day, e.g. ['mon', 'tue']")
        return days

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        return _time_of_day(value)

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a window time has no offset: it is read in the calendar's timezone")
        return value

    def label(self, day: Weekday) -> str:
        """``mon 09:00-18:00`` (with an en dash): this window as it opens on ``day``."""
        return f"{day} {_hhmm(self.start)}{_DASH}{_hhmm(self.end)}"


class Freeze(_Strict):
    """A period when no change is allowed, whatever the windows say."""

    start: datetime
    """When the freeze begins (inclusive); without an offset, read in the calendar's zone."""
    end: datetime
    """When it ends (exclusive); a bare date means midnight at the start of that day."""
    reason: str = ""
    """Why (shown in the decision's reason), e.g. ``year-end freeze``."""

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        naive = (self.start.tzinfo is None, self.end.tzinfo is None)
        if naive[0] != naive[1]:
            msg = f"freeze start {self.start} and end {self.end}: give both an offset or neither"
            raise ValueError(msg)
        if self.end <= self.start:
            msg = f"freeze end {self.end} must be after its start {self.start}"
            raise ValueError(msg)
        return self


class ChangeWindowConfig(_Strict):
    """``governance.change_windows`` in grace.yaml."""

    enabled: bool = True
    """False: no restriction at all (always inside the window, freezes ignored)."""
    timezone: str | None = None
    """IANA name (``Europe/Paris``, ``UTC``) the windows are read in; none: the machine's zone."""
    windows: list[Window] = Field(default_factory=lambda: [Window()])
    """When changes are allowed; the default is weekdays 09:00 to 18:00. Empty: never."""
    freezes: list[Freeze] = Field(default_factory=list)
    """Periods when no change is allowed, even inside a window."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                msg = f"unknown timezone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
                raise ValueError(msg) from None
        return name


@dataclass(frozen=True, slots=True)
class WindowState:
    """Whether changes are allowed at one instant, why, and until when."""

    open: bool
    """True when changes are allowed: inside a window and not frozen."""
    frozen: bool
    """Inside a freeze period."""
    reason: str
    """One sentence for humans, e.g. ``inside change window mon 09:00-18:00 (Europe/Paris)``."""
    next_change: datetime | None
    """When ``open`` or ``frozen`` flips next, in UTC; None if never.

    UTC, not the calendar's zone: an aware datetime inside a repeated (fall back) hour never
    compares equal to one in another zone (PEP 495), which would surprise every caller."""


@dataclass(frozen=True, slots=True)
class _Span:
    """One occurrence of a window or one freeze, as UTC instants: ``[start, end)``."""

    start: datetime
    end: datetime
    label: str

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


class ChangeCalendar:
    """Answers "may a change happen now?" for one :class:`ChangeWindowConfig`."""

    def __init__(self, config: ChangeWindowConfig, *, local_tz: tzinfo | None = None) -> None:
        """Resolve the zone once: ``config.timezone``, else ``local_tz``, else the machine's."""
        self.config = config
        self._memo: tuple[datetime, datetime | None, WindowState] | None = None
        self.tz: tzinfo = (
            ZoneInfo(config.timezone)
            if config.timezone
            else local_tz
            if local_tz is not None
            else _system_zone()
        )
        self._freezes = tuple(
            sorted(
                (
                    _Span(
                        self._instant(f.start, last=False),
                        self._instant(f.end, last=True),
                        f.reason,
                    )
                    for f in config.freezes
                ),
                key=lambda s: s.start,
            )
        )

    def state(self, now: datetime) -> WindowState:
        """Whether changes are allowed at ``now`` (an aware datetime), why, and until when.

        The answer holds from ``now`` until ``next_change``, so it is remembered for that
        stretch: a storm of decisions computes it once, not once per event.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            msg = f"now must be an aware datetime (with a timezone), got {now!r}"
            raise ValueError(msg)
        memo = self._memo
        if memo is not None and memo[0] <= now and (memo[1] is None or now < memo[1]):
            return memo[2]
        answer = self._state(now)
        self._memo = (now, answer.next_change, answer)
        return answer

    def _state(self, now: datetime) -> WindowState:
        if not self.config.enabled:
            return WindowState(
                True, False, "change windows are disabled: changes allowed any time", None
            )
        at = now.astimezone(UTC)
        freezes = [f for f in self._freezes if f.holds(at)]
        if freezes:
            until = self._freeze_end(at)
            why = "; ".join(dict.fromkeys(f.label for f in freezes if f.label))
            reason = f"change freeze until {self._show(until)}" + (f": {why}" if why else "")
            return WindowState(False, True, reason, until)
        window = next((w for w in self._occurrences(at, at) if w.holds(at)), None)
        candidates = self._candidates(at)
        nxt = next((c for c in candidates if self._flags(c) != (window is not None, False)), None)
        if window is not None:
            return WindowState(True, False, f"inside change window {window.label} ({self.tz})", nxt)
        if not self.config.windows:
            return WindowState(False, False, "no change windows configured", nxt)
        opens = next((c for c in candidates if c <= at + _HORIZON and self._flags(c)[0]), None)
        when = (
            f"next opens {self._show(opens, weekday=True)}"
            if opens
            else "none opens within 14 days"
        )
        return WindowState(False, False, f"outside change windows ({when})", nxt)

    # -- instants ------------------------------------------------------------------------------

    def _flags(self, at: datetime) -> tuple[bool, bool]:
        """``(open, frozen)`` at a UTC instant."""
        if any(f.holds(at) for f in self._freezes):
            return False, True
        return any(w.holds(at) for w in self._occurrences(at, at)), False

    def _occurrences(self, first: datetime, last: datetime) -> Iterator[_Span]:
        """Every window occurrence that may touch ``[first, last]`` (UTC instants)."""
        day = first.astimezone(self.tz).date() - timedelta(days=2)
        stop = last.astimezone(self.tz).date()
        while day <= stop:  # bounded: at most 14 days + 3
            name = _DAYS[day.weekday()]
            for w in self.config.windows:
                if name in w.days:
                    end_day = day + timedelta(days=1) if w.end <= w.start else day
                    start = self._instant(datetime.combine(day, w.start), last=False)
                    end = self._instant(datetime.combine(end_day, w.end), last=True)
                    if start < end:
                        yield _Span(start, end, w.label(name))
            day += timedelta(days=1)

    def _candidates(self, at: datetime) -> list[datetime]:
        """Instants after ``at`` where the state may flip: window edges within the horizon,
        freeze edges at any distance (weekly windows that do not flip within 14 days never do)."""
        edges = {e for w in self._occurrences(at, at + _HORIZON) for e in (w.start, w.end)}
        edges = {e for e in edges if at < e <= at + _HORIZON}
        edges.update(e for f in self._freezes for e in (f.start, f.end) if e > at)
        return sorted(edges)

    def _freeze_end(self, at: datetime) -> datetime:
        """When the freezes holding ``at`` (chained through overlaps) are over."""
        end = at
        for f in self._freezes:  # sorted by start: one pass chains overlapping freezes
            if f.start <= end < f.end:
                end = max(end, f.end)
        return end

    def _instant(self, value: datetime, *, last: bool) -> datetime:
        """A datetime as a UTC instant; a naive one is wall-clock time in the calendar's zone."""
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        early = value.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        late = value.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if early == late:
            return early
        if early < late:  # happens twice (fall back): first for a start, second for an end
            return late if last else early
        return _jump(late, early, self.tz)  # does not exist (spring forward): the jump

    def _show(self, at: datetime, *, weekday: bool = False) -> str:
        local = at.astimezone(self.tz)
        return local.strftime(("%a " if weekday else "") + "%Y-%m-%d %H:%M %Z")


def _jump(before: datetime, after: datetime, tz: tzinfo) -> datetime:
    """The instant in ``(before, after]`` where ``tz``'s offset changes (bisection, ≤ ~40 steps)."""
    target = after.astimezone(tz).utcoffset()
    while after - before > _MICROSECOND:
        mid = before + (after - before) / 2
        if mid.astimezone(tz).utcoffset() == target:
            after = mid
        else:
            before = mid
    return after


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _system_zone() -> tzinfo:
    """The machine's zone, DST rules included where they can be named (``TZ``, /etc/localtime)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name and os.path.islink("/etc/localtime"):
        target = os.path.realpath("/etc/localtime")
        name = target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else ""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return datetime.now().astimezone().tzinfo or UTC  # a fixed offset: the best left
