"""Change windows and freezes: time travel with explicit aware instants (no clock, no sleeping)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ruamel.yaml import YAML

from grace.governance._windows import (
    ChangeCalendar,
    ChangeWindowConfig,
    Freeze,
    Window,
    WindowState,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
DOC = Path(__file__).resolve().parents[3] / "docs" / "governance-windows.md"


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """An unambiguous wall-clock instant in Europe/Paris."""
    return datetime(y, mo, d, h, mi, s, tzinfo=PARIS)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """An instant in UTC (for the DST days, where Paris wall times are ambiguous)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def calendar(**config: Any) -> ChangeCalendar:
    """A calendar in Europe/Paris unless the config names another zone."""
    config.setdefault("timezone", "Europe/Paris")
    return ChangeCalendar(ChangeWindowConfig.model_validate(config))


# -- the default window ---------------------------------------------------------------------


def test_defaults_are_weekdays_nine_to_six() -> None:
    """With no configuration: enabled, one window mon-fri 09:00-18:00, no freezes."""
    config = ChangeWindowConfig()
    assert config.enabled
    assert config.timezone is None
    expected = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
    assert config.windows == [Window.model_validate(expected)]
    assert config.freezes == []


@pytest.mark.parametrize(
    ("now", "is_open"),
    [
        (paris(2026, 11, 23, 8, 59, 59), False),
        (paris(2026, 11, 23, 9, 0, 0), True),
        (paris(2026, 11, 23, 17, 59, 59), True),
        (paris(2026, 11, 23, 18, 0, 0), False),
        (paris(2026, 11, 20, 12), True),  # Friday
        (paris(2026, 11, 21, 12), False),  # Saturday
        (paris(2026, 11, 22, 12), False),  # Sunday
    ],
)
def test_weekday_window_boundaries(now: datetime, is_open: bool) -> None:
    """Start inclusive, end exclusive, weekends closed."""
    state = calendar().state(now)
    assert state.open is is_open
    assert state.frozen is False


def test_inside_reason_and_next_change() -> None:
    """Inside: the reason names the window and zone; the state flips at 18:00 (given in UTC)."""
    state = calendar().state(paris(2026, 11, 23, 10, 30))
    assert state == WindowState(
        open=True,
        frozen=False,
        reason="inside change window mon 09:00\u201318:00 (Europe/Paris)",
        next_change=paris(2026, 11, 23, 18),
    )
    assert state.next_change is not None
    assert state.next_change.tzinfo is UTC


def test_weekend_reason_names_the_next_opening() -> None:
    """Saturday noon: closed until Monday 09:00 local, said in words and as next_change."""
    state = calendar().state(paris(2026, 11, 21, 12))
    assert not state.open
    assert state.reason == "outside change windows (next opens Mon 2026-11-23 09:00 CET)"
    assert state.next_change == paris(2026, 11, 23, 9)


def test_now_given_in_another_zone_is_the_same_instant() -> None:
    """``now`` may carry any zone: 08:30 UTC is 09:30 in Paris in November."""
    assert calendar().state(utc(2026, 11, 23, 8, 30)).open
    assert not calendar().state(utc(2026, 11, 23, 7, 30)).open


def test_naive_now_is_refused() -> None:
    """A naive ``now`` is ambiguous: a clear ValueError, never a guess."""
    with pytest.raises(ValueError, match="aware"):
        calendar().state(datetime(2026, 11, 23, 10))


# -- overnight windows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "is_open"),
    [
        (paris(2026, 11, 20, 21, 59, 59), False),  # Fri before the window
        (paris(2026, 11, 20, 22, 0), True),  # Fri 22:00 opens
        (paris(2026, 11, 20, 23, 59, 59), True),
        (paris(2026, 11, 21, 0, 0), True),  # into Saturday
        (paris(2026, 11, 21, 1, 59, 59), True),
        (paris(2026, 11, 21, 2, 0), False),  # closes 02:00 Saturday
        (paris(2026, 11, 21, 22, 30), False),  # Saturday is not a window day
        (paris(2026, 11, 19, 23, 0), False),  # nor Thursday
        (paris(2026, 11, 20, 1, 0), False),  # Friday 01:00 belongs to Thursday's window
    ],
)
def test_overnight_window_belongs_to_its_start_day(now: datetime, is_open: bool) -> None:
    """A window 22:00-02:00 on Fridays runs from Friday 22:00 into Saturday 02:00."""
    cal = calendar(windows=[{"days": ["fri"], "start": "22:00", "end": "02:00"}])
    assert cal.state(now).open is is_open


def test_overnight_window_reason_and_close() -> None:
    """Inside after midnight: the label is the start day's; it closes at 02:00 on Saturday."""
    cal = calendar(windows=[{"days": ["fri"], "start": "22:00", "end": "02:00"}])
    state = cal.state(paris(2026, 11, 21, 0, 30))
    assert state.reason == "inside change window fri 22:00\u201302:00 (Europe/Paris)"
    assert state.next_change == paris(2026, 11, 21, 2)


def test_end_equal_to_start_is_a_full_day() -> None:
    """``start == end`` crosses midnight: a 24-hour window from the start day."""
    cal = calendar(windows=[{"days": ["mon"], "start": "06:00", "end": "06:00"}])
    assert not cal.state(paris(2026, 11, 23, 5, 59, 59)).open
    assert cal.state(paris(2026, 11, 24, 5, 59, 59)).open
    assert not cal.state(paris(2026, 11, 24, 6, 0)).open


def test_midnight_end_closes_at_the_end_of_the_day() -> None:
    """``end: "00:00"`` means the window runs to midnight."""
    cal = calendar(windows=[{"days": ["mon"], "start": "20:00", "end": "00:00"}])
    assert cal.state(paris(2026, 11, 23, 23, 59, 59)).open
    state = cal.state(paris(2026, 11, 23, 20))
    assert state.next_change == paris(2026, 11, 24, 0)
    assert not cal.state(paris(2026, 11, 24, 0)).open


def test_adjacent_windows_do_not_flip() -> None:
    """Two windows touching at noon are one stretch: next_change is the later close."""
    cal = calendar(
        windows=[
            {"days": ["mon"], "start": "09:00", "end": "12:00"},
            {"days": ["mon"], "start": "12:00", "end": "15:00"},
        ]
    )
    assert cal.state(paris(2026, 11, 23, 10)).next_change == paris(2026, 11, 23, 15)
    assert cal.state(paris(2026, 11, 23, 12)).open


# -- timezones ------------------------------------------------------------------------------


def test_same_instant_open_in_one_zone_closed_in_another() -> None:
    """18:00 UTC on a Monday: 19:00 in Paris (closed), 13:00 in New York (open); 08:30 UTC:
    09:30 in Paris (open), 03:30 in New York (closed)."""
    instant = utc(2026, 11, 23, 18)
    assert not calendar(timezone="Europe/Paris").state(instant).open
    assert calendar(timezone="America/New_York").state(instant).open
    early = utc(2026, 11, 23, 8, 30)
    assert calendar(timezone="Europe/Paris").state(early).open
    assert not calendar(timezone="America/New_York").state(early).open


def test_local_zone_is_injectable_and_config_wins() -> None:
    """No timezone configured: the injected local zone; a configured one overrides it."""
    instant = utc(2026, 11, 23, 18)  # 19:00 Paris, 13:00 New York
    local = ChangeCalendar(ChangeWindowConfig(), local_tz=NEW_YORK)
    assert local.tz == NEW_YORK
    assert local.state(instant).open
    pinned = ChangeCalendar(ChangeWindowConfig(timezone="Europe/Paris"), local_tz=NEW_YORK)
    assert not pinned.state(instant).open


def test_machine_zone_comes_from_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a configured or injected zone, ``TZ`` names the machine's zone (read once)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    cal = ChangeCalendar(ChangeWindowConfig())
    assert cal.tz == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert cal.state(utc(2026, 11, 23, 1)).open  # 10:00 in Tokyo: still Tokyo


# -- DST ------------------------------------------------------------------------------------


def test_spring_forward_week_keeps_wall_clock_hours() -> None:
    """Paris moves to CEST on Sunday 2026-03-29: 09:00 stays 09:00 (08:00 UTC, then 07:00)."""
    cal = calendar()
    assert not cal.state(utc(2026, 3, 27, 7, 59, 59)).open  # Fri 08:59:59 CET
    assert cal.state(utc(2026, 3, 27, 8)).open  # Fri 09:00 CET
    assert not cal.state(utc(2026, 3, 30, 6, 59, 59)).open  # Mon 08:59:59 CEST
    assert cal.state(utc(2026, 3, 30, 7)).open  # Mon 09:00 CEST
    assert cal.state(utc(2026, 3, 30, 15, 59, 59)).open  # Mon 17:59:59 CEST
    assert not cal.state(utc(2026, 3, 30, 16)).open  # Mon 18:00 CEST


def test_next_opening_across_spring_forward() -> None:
    """Friday evening before the change: the next opening is Monday 09:00 CEST (07:00 UTC)."""
    state = calendar().state(paris(2026, 3, 27, 18))
    assert state.next_change == utc(2026, 3, 30, 7)
    assert state.reason == "outside change windows (next opens Mon 2026-03-30 09:00 CEST)"


def test_fall_back_week_keeps_wall_clock_hours() -> None:
    """Paris returns to CET on Sunday 2026-10-25: Monday 09:00 is 08:00 UTC."""
    cal = calendar()
    assert cal.state(utc(2026, 10, 23, 7)).open  # Fri 09:00 CEST
    assert not cal.state(utc(2026, 10, 26, 7, 59, 59)).open  # Mon 08:59:59 CET
    assert cal.state(utc(2026, 10, 26, 8)).open  # Mon 09:00 CET
    assert cal.state(paris(2026, 10, 23, 18)).next_change == utc(2026, 10, 26, 8)


def test_nonexistent_start_opens_when_the_clocks_jump() -> None:
    """A window from 02:30 (skipped on 2026-03-29) opens at 03:00 CEST, 01:00 UTC."""
    cal = calendar(windows=[{"days": ["sun"], "start": "02:30", "end": "04:00"}])
    assert not cal.state(utc(2026, 3, 29, 0, 59, 59)).open
    assert cal.state(utc(2026, 3, 29, 1)).open
    assert cal.state(utc(2026, 3, 29, 1, 59, 59)).open  # 03:59:59 CEST
    assert not cal.state(utc(2026, 3, 29, 2)).open  # 04:00 CEST
    assert cal.state(utc(2026, 3, 28, 12)).next_change == utc(2026, 3, 29, 1)


def test_nonexistent_end_closes_when_the_clocks_jump() -> None:
    """An overnight window to 02:30 closes at the jump (03:00 CEST), not an hour later."""
    cal = calendar(windows=[{"days": ["sat"], "start": "22:00", "end": "02:30"}])
    assert cal.state(utc(2026, 3, 28, 21)).open  # Sat 22:00 CET
    assert cal.state(utc(2026, 3, 29, 0, 59, 59)).open  # Sun 01:59:59 CET
    assert not cal.state(utc(2026, 3, 29, 1)).open  # Sun 03:00 CEST
    assert cal.state(utc(2026, 3, 28, 21)).next_change == utc(2026, 3, 29, 1)


def test_window_wholly_in_the_skipped_hour_does_not_open() -> None:
    """02:15-02:45 does not exist on 2026-03-29; the next Sunday it opens as usual."""
    cal = calendar(windows=[{"days": ["sun"], "start": "02:15", "end": "02:45"}])
    assert not cal.state(utc(2026, 3, 29, 1)).open
    state = cal.state(utc(2026, 3, 28, 12))
    assert state.next_change == paris(2026, 4, 5, 2, 15)


def test_repeated_end_closes_at_its_second_occurrence() -> None:
    """02:30 happens twice on 2026-10-25: a window to 02:30 stays open through both."""
    cal = calendar(windows=[{"days": ["sun"], "start": "00:00", "end": "02:30"}])
    assert cal.state(utc(2026, 10, 25, 0, 45)).open  # 02:45 CEST: between the two 02:30s
    assert cal.state(utc(2026, 10, 25, 1, 29, 59)).open  # 02:29:59 CET
    assert not cal.state(utc(2026, 10, 25, 1, 30)).open  # the second 02:30
    assert cal.state(utc(2026, 10, 25, 0, 45)).next_change == utc(2026, 10, 25, 1, 30)


def test_repeated_start_opens_at_its_first_occurrence() -> None:
    """A window from 02:30 on 2026-10-25 opens at the first 02:30 (CEST, 00:30 UTC)."""
    cal = calendar(windows=[{"days": ["sun"], "start": "02:30", "end": "05:00"}])
    assert not cal.state(utc(2026, 10, 25, 0, 29, 59)).open
    assert cal.state(utc(2026, 10, 25, 0, 30)).open


# -- freezes --------------------------------------------------------------------------------

YEAR_END = {"start": "2026-12-21T00:00", "end": "2027-01-02T00:00", "reason": "year-end freeze"}


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        (paris(2026, 12, 20, 23, 59, 59), False),
        (paris(2026, 12, 21, 0, 0), True),
        (paris(2026, 12, 21, 10, 0), True),  # a Monday, inside the window: the freeze wins
        (paris(2027, 1, 1, 23, 59, 59), True),
        (paris(2027, 1, 2, 0, 0), False),
    ],
)
def test_freeze_boundaries(now: datetime, frozen: bool) -> None:
    """Freeze start inclusive, end exclusive; naive times are read in the calendar's zone."""
    state = calendar(freezes=[YEAR_END]).state(now)
    assert state.frozen is frozen
    if frozen:
        assert not state.open


def test_freeze_reason_and_end() -> None:
    """Frozen: the reason names the end and why; next_change is the end."""
    state = calendar(freezes=[YEAR_END]).state(paris(2026, 12, 22, 11))
    assert state == WindowState(
        open=False,
        frozen=True,
        reason="change freeze until 2027-01-02 00:00 CET: year-end freeze",
        next_change=paris(2027, 1, 2),
    )


def test_freeze_inside_a_window_day() -> None:
    """A two-hour freeze on a Tuesday: open, frozen at 12:00, open again at 14:00."""
    cal = calendar(freezes=[{"start": "2026-11-24T12:00", "end": "2026-11-24T14:00"}])
    before = cal.state(paris(2026, 11, 24, 11, 59, 59))
    assert before.open
    assert before.next_change == paris(2026, 11, 24, 12)
    during = cal.state(paris(2026, 11, 24, 12))
    assert (during.open, during.frozen) == (False, True)
    assert during.reason == "change freeze until 2026-11-24 14:00 CET"
    assert during.next_change == paris(2026, 11, 24, 14)
    after = cal.state(paris(2026, 11, 24, 14))
    assert after.open
    assert after.next_change == paris(2026, 11, 24, 18)


def test_freeze_with_offsets_is_an_instant() -> None:
    """A freeze given in UTC is that instant, whatever the calendar's zone."""
    cal = calendar(freezes=[{"start": "2026-11-24T11:00Z", "end": "2026-11-24T12:00Z"}])
    assert cal.state(paris(2026, 11, 24, 12, 30)).frozen  # 11:30 UTC
    assert not cal.state(paris(2026, 11, 24, 13)).frozen  # 12:00 UTC


def test_overlapping_freezes_chain() -> None:
    """Overlapping freezes: frozen until the last one ends; every active reason is named."""
    cal = calendar(
        freezes=[
            {"start": "2026-11-23", "end": "2026-11-25", "reason": "release"},
            {"start": "2026-11-24", "end": "2026-11-27", "reason": "audit"},
            {"start": "2026-11-27", "end": "2026-11-28"},
        ]
    )
    state = cal.state(paris(2026, 11, 24, 10))
    assert state.reason == "change freeze until 2026-11-28 00:00 CET: release; audit"
    assert state.next_change == paris(2026, 11, 28)


def test_freeze_starting_outside_a_window_still_flips_the_state() -> None:
    """Saturday, closed; a freeze starting Sunday: next_change is the freeze start."""
    cal = calendar(freezes=[{"start": "2026-11-22T00:00", "end": "2026-12-10T00:00"}])
    state = cal.state(paris(2026, 11, 21, 12))
    assert (state.open, state.frozen) == (False, False)
    assert state.next_change == paris(2026, 11, 22)
    assert state.reason == "outside change windows (none opens within 14 days)"


def test_freeze_end_beyond_the_horizon_is_exact() -> None:
    """A freeze ending in six weeks still reports its exact end."""
    cal = calendar(freezes=[{"start": "2026-11-01", "end": "2026-12-14T09:30"}])
    assert cal.state(paris(2026, 11, 2, 10)).next_change == paris(2026, 12, 14, 9, 30)


def test_bare_dates_are_midnight() -> None:
    """``end: 2027-01-02`` (a YAML date) means up to, not including, January 2nd."""
    freeze = Freeze.model_validate({"start": datetime(2026, 12, 21).date(), "end": "2027-01-02"})
    assert freeze.start == datetime(2026, 12, 21)
    assert freeze.end == datetime(2027, 1, 2)


# -- enabled / empty ------------------------------------------------------------------------


def test_disabled_is_always_open() -> None:
    """``enabled: false``: no restriction, even on a Sunday night inside a freeze."""
    cal = calendar(enabled=False, freezes=[YEAR_END])
    state = cal.state(paris(2026, 12, 27, 3))
    assert (state.open, state.frozen, state.next_change) == (True, False, None)
    assert "disabled" in state.reason


def test_no_windows_is_never_open() -> None:
    """An empty list of windows: never open, and said so."""
    state = calendar(windows=[]).state(paris(2026, 11, 23, 10))
    assert state == WindowState(False, False, "no change windows configured", None)


def test_no_windows_still_reports_freezes() -> None:
    """Without windows, a freeze is still a freeze, and its start is a change of state."""
    cal = calendar(windows=[], freezes=[YEAR_END])
    assert cal.state(paris(2026, 11, 23, 10)).next_change == paris(2026, 12, 21)
    frozen = cal.state(paris(2026, 12, 23, 10))
    assert frozen.frozen
    assert frozen.next_change == paris(2027, 1, 2)


# -- validation -----------------------------------------------------------------------------


def test_unknown_timezone_is_named_with_an_example() -> None:
    """A misspelt zone: the error names it and suggests an IANA name."""
    with pytest.raises(ValidationError, match=r"unknown timezone 'Europe/Pariss'.*Europe/Paris"):
        ChangeWindowConfig(timezone="Europe/Pariss")
    with pytest.raises(ValidationError, match=r"unknown timezone '\.\./etc/passwd'"):
        ChangeWindowConfig(timezone="../etc/passwd")


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-12-21T00:00", "2026-12-20T00:00"), ("2026-12-21T00:00", "2026-12-21T00:00")],
)
def test_freeze_must_end_after_it_starts(start: str, end: str) -> None:
    """An empty or backwards freeze is a clear validation error."""
    with pytest.raises(ValidationError, match="must be after its start"):
        Freeze.model_validate({"start": start, "end": end})


def test_freeze_cannot_mix_naive_and_aware() -> None:
    """One end with an offset, the other without, cannot be ordered: refused."""
    with pytest.raises(ValidationError, match="offset or neither"):
        Freeze.model_validate({"start": "2026-12-21T00:00", "end": "2026-12-22T00:00Z"})


@pytest.mark.parametrize("bad", ["25:00", "9am", "09:60", "09:00+01:00", "", 540, 9.5])
def test_bad_time_strings_are_refused(bad: object) -> None:
    """Not ``HH:MM``: refused with the expected form (numbers too: YAML 1.1's 09:00 is 540)."""
    with pytest.raises(ValidationError, match="is not a time of day: write 'HH:MM'"):
        Window.model_validate({"start": bad})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9:00", time(9)), (" 23:59 ", time(23, 59)), ("07:15:30", time(7, 15, 30))],
)
def test_time_strings_accepted(text: str, expected: time) -> None:
    """``H:MM``, ``HH:MM`` and ``HH:MM:SS`` are times of day."""
    assert Window.model_validate({"end": text}).end == expected


def test_window_days_and_keys_are_checked() -> None:
    """Unknown day names, an empty day list and unknown keys are errors."""
    with pytest.raises(ValidationError, match="days"):
        Window.model_validate({"days": ["monday"]})
    with pytest.raises(ValidationError, match="at least one day"):
        Window.model_validate({"days": []})
    with pytest.raises(ValidationError, match="Extra inputs"):
        ChangeWindowConfig.model_validate({"window": []})


def test_the_documented_example_validates() -> None:
    """The grace.yaml example in docs/governance-windows.md is a valid configuration."""
    block = re.search(r"```yaml\n(governance:.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block is not None
    data = YAML(typ="safe").load(block.group(1))
    config = ChangeWindowConfig.model_validate(data["governance"]["change_windows"])
    cal = ChangeCalendar(config)
    assert cal.state(utc(2026, 11, 28, 23)).open  # Saturday night, 00:00 Sunday in Paris
    assert cal.state(utc(2026, 11, 24, 12, 30)).frozen
    assert cal.state(utc(2026, 12, 31, 12)).frozen


# -- properties -----------------------------------------------------------------------------

ZONES = ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(
    Window,
    days=st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
    start=quarter_hours,
    end=quarter_hours,
)
instants = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    wins=st.lists(windows, max_size=3),
    now=instants,
    fraction=st.floats(0, 1),
)
def test_state_holds_until_next_change(
    zone: str, wins: list[Window], now: datetime, fraction: float
) -> None:
    """``(open, frozen)`` is constant from now until just before next_change, and flips there."""
    cal = ChangeCalendar(ChangeWindowConfig(timezone=zone, windows=wins))
    state = cal.state(now)
    flags = (state.open, state.frozen)
    if state.next_change is None:
        for days in (1, 3, 7, 14):
            later = cal.state(now + timedelta(days=days))
            assert (later.open, later.frozen) == flags
        return
    assert state.next_change > now
    last = state.next_change - timedelta(microseconds=1)
    between = now + (last - now) * fraction
    for at in (last, between):
        s = cal.state(at)
        assert (s.open, s.frozen) == flags, at
    flipped = cal.state(state.next_change)
    assert (flipped.open, flipped.frozen) != flags


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), wins=st.lists(windows, max_size=3), now=instants)
def test_open_matches_the_wall_clock(zone: str, wins: list[Window], now: datetime) -> None:
    """Away from DST changes, open means the local wall clock reads inside a window."""
    tz = ZoneInfo(zone)
    offsets = {(now + timedelta(hours=h)).astimezone(tz).utcoffset() for h in (-30, 0, 30)}
    if len(offsets) != 1:
        return  # near a DST change: covered by the explicit tests above
    wall = now.astimezone(tz).replace(tzinfo=None)
    yesterday = DAYS[(wall.weekday() - 1) % 7]
    today = DAYS[wall.weekday()]
    expected = False
    for w in wins:
        if w.start < w.end:
            expected |= today in w.days and w.start <= wall.time() < w.end
        else:  # crosses midnight: tonight's part, or the tail of yesterday's
            expected |= today in w.days and wall.time() >= w.start
            expected |= yesterday in w.days and wall.time() < w.end
    state = ChangeCalendar(ChangeWindowConfig(timezone=zone, windows=wins)).state(now)
    assert state.open is expected
