"""Throttles: the three EDA modes as pure transitions, driven by explicit times (no sleeping)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from grace.durations import Duration
from grace.governance._throttle import (
    ThrottleResult,
    ThrottleState,
    check_throttle,
    flush_throttle,
    throttle_due,
    validate_throttle,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    """A throttle as the playbook model would hold it (seconds)."""

    once_within: float | None = None
    once_after: float | None = None
    accumulate_within: float | None = None
    threshold: int | None = None


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def drive(spec: Spec, times: list[float], state: ThrottleState | None = None) -> list[bool]:
    """Feed events at T0+t for each t; return whether each fired."""
    state = state or ThrottleState()
    fired = []
    for t in times:
        result = check_throttle(spec, state, at(t))
        fired.append(result.fire)
        state = result.state
    return fired


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        Spec(once_within=300),
        Spec(once_after=0.5),
        Spec(accumulate_within=60, threshold=1),
        Spec(accumulate_within=60, threshold=5),
    ],
)
def test_valid_specs(spec: Spec) -> None:
    """One window, positive, threshold with accumulate_within only."""
    validate_throttle(spec)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (Spec(), r"set exactly one of once_within, once_after, accumulate_within \(got none\)"),
        (Spec(once_within=1, once_after=2), r"\(got once_within and once_after\)"),
        (
            Spec(once_within=1, once_after=2, accumulate_within=3, threshold=2),
            "got once_within and once_after and accumulate_within",
        ),
        (Spec(once_within=0), "once_within must be a duration above zero .*got 0"),
        (Spec(once_after=-5), "once_after must be a duration above zero"),
        (Spec(once_within=float("inf")), "once_within must be a duration above zero"),
        (Spec(once_within=float("nan")), "once_within must be a duration above zero"),
        (Spec(once_within=1e20), "once_within must be a duration above zero"),
        (Spec(once_within="5m"), "must be a duration above zero .*got '5m'"),  # type: ignore[arg-type]
        (Spec(accumulate_within=60), "accumulate_within needs a threshold .*'threshold: 3'"),
        (Spec(accumulate_within=60, threshold=0), "threshold must be a whole number ≥ 1, got 0"),
        (Spec(accumulate_within=60, threshold=2.5), "threshold must be a whole number"),  # type: ignore[arg-type]
        (Spec(accumulate_within=60, threshold=True), "threshold must be a whole number"),
        (
            Spec(once_within=60, threshold=3),
            "threshold only goes with accumulate_within, not once_within",
        ),
        (
            Spec(once_after=60, threshold=3),
            "threshold only goes with accumulate_within, not once_after",
        ),
    ],
)
def test_invalid_specs(spec: Spec, match: str) -> None:
    """Each misuse is refused with a message saying how to fix it."""
    with pytest.raises(ValueError, match=match):
        validate_throttle(spec)


def test_every_entry_point_validates() -> None:
    """An invalid spec never yields a decision, whichever function is called."""
    bad = Spec(once_within=60, once_after=60)
    for call in (check_throttle, throttle_due, flush_throttle):
        with pytest.raises(ValueError, match="set exactly one"):
            call(bad, ThrottleState(), T0)


def test_naive_now_is_refused() -> None:
    """A naive `now` is a caller bug, reported as such."""
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        check_throttle(Spec(once_within=60), ThrottleState(), datetime(2024, 5, 1))


class _PlaybookThrottle(BaseModel):
    model_config = ConfigDict(frozen=True)
    once_within: Duration | None = None
    once_after: Duration | None = None
    accumulate_within: Duration | None = None
    threshold: int | None = None


def test_a_frozen_pydantic_model_with_durations_is_a_throttle() -> None:
    """The playbook model (Duration fields, '5 minutes') works as the spec as it is."""
    spec = _PlaybookThrottle(once_within="5 minutes")
    first = check_throttle(spec, ThrottleState(), T0)
    second = check_throttle(spec, first.state, at(60))
    assert (first.fire, second.fire) == (True, False)
    assert second.reason.startswith("throttled: once_within 5m")


# --- once_within ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "fired"),
    [
        ([0], [True]),
        ([0, 1, 299, 300], [True, False, False, True]),
        ([0, 299.999, 300.001], [True, False, True]),
        ([0, 100, 200, 350, 400, 649, 650], [True, False, False, True, False, False, True]),
        ([0, 1000, 2000], [True, True, True]),
        ([0, 0, 0], [True, False, False]),
        ([0, -100, 200, 300], [True, False, False, True]),  # clock stepped back: inside the window
    ],
)
def test_once_within_sequences(times: list[float], fired: list[bool]) -> None:
    """Fire when never fired or W has passed since the last fire; otherwise suppress."""
    assert drive(Spec(once_within=300), times) == fired


def test_once_within_counts_suppressed_and_resets_on_fire() -> None:
    """state.count is the number suppressed since the last fire; a fire resets it."""
    spec = Spec(once_within=300)
    first = check_throttle(spec, ThrottleState(), T0)
    assert first == ThrottleResult(True, ThrottleState(last_fire=T0), "fired: once_within 5m")
    state = first.state
    for n, t in enumerate((10, 20, 30), start=1):
        result = check_throttle(spec, state, at(t))
        assert not result.fire
        assert result.state == ThrottleState(last_fire=T0, count=n)
        state = result.state
    assert result.reason == (
        "throttled: once_within 5m, fired at 10:00:00Z, 3 suppressed since; "
        "may fire again from 10:05:00Z"
    )
    fire = check_throttle(spec, state, at(360))
    assert fire.fire
    assert fire.state == ThrottleState(last_fire=at(360))
    assert (
        fire.reason == "fired: once_within 5m, last fired 6m ago at 10:00:00Z, 3 suppressed since"
    )


def test_once_within_reason_shows_the_date_when_another_day() -> None:
    """A fire on an earlier UTC day is shown with its date."""
    state = ThrottleState(last_fire=T0)
    result = check_throttle(Spec(once_within=2 * 86_400), state, at(86_400 + 60))
    assert "fired at 2024-05-01 10:00:00Z" in result.reason
    assert "may fire again from 2024-05-03 10:00:00Z" in result.reason


def test_once_within_reason_uses_utc_whatever_the_offset() -> None:
    """Times in other offsets are shown in UTC (Z)."""
    tz = timezone(timedelta(hours=2))
    state = ThrottleState(last_fire=datetime(2024, 5, 1, 12, 0, tzinfo=tz))
    result = check_throttle(Spec(once_within=300), state, at(10))
    assert "fired at 10:00:00Z" in result.reason


@settings(max_examples=200)
@given(
    st.floats(min_value=0.001, max_value=1_000),
    st.lists(st.floats(min_value=0, max_value=500), min_size=1, max_size=40),
)
def test_once_within_never_fires_twice_within_the_window(window: float, gaps: list[float]) -> None:
    """Property: over increasing event times, fires are ≥ W apart, and an event is suppressed
    only when a fire happened less than W before it."""
    spec = Spec(once_within=window)
    state = ThrottleState()
    now = T0
    fires: list[datetime] = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        result = check_throttle(spec, state, now)
        if result.fire:
            assert not fires or (now - fires[-1]).total_seconds() >= window
            fires.append(now)
        else:
            assert fires
            assert (now - fires[-1]).total_seconds() < window
            assert result.state.count == state.count + 1
        state = result.state
    assert fires[0] == T0 + timedelta(seconds=gaps[0])


# --- once_after -------------------------------------------------------------------------------


def test_once_after_holds_then_the_sweeper_flushes() -> None:
    """The first event opens a window and is held; more are counted; the sweeper fires once."""
    spec = Spec(once_after=300)
    first = check_throttle(spec, ThrottleState(), T0)
    assert not first.fire
    assert first.state == ThrottleState(window_start=T0, count=1)
    assert (
        first.reason == "throttled: once_after 5m, window opened at 10:00:00Z, fires at 10:05:00Z"
    )
    second = check_throttle(spec, first.state, at(100))
    third = check_throttle(spec, second.state, at(299))
    assert not second.fire
    assert not third.fire
    assert third.state == ThrottleState(window_start=T0, count=3)
    assert (
        third.reason
        == "throttled: once_after 5m, 3 events held since 10:00:00Z, fires at 10:05:00Z"
    )

    assert not throttle_due(spec, third.state, at(299.999))
    early = flush_throttle(spec, third.state, at(299.999))
    assert early == ThrottleResult(False, third.state, early.reason)
    assert (
        early.reason
        == "throttled: once_after 5m, 3 events held since 10:00:00Z, fires at 10:05:00Z"
    )

    assert throttle_due(spec, third.state, at(300))
    flushed = flush_throttle(spec, third.state, at(301))
    assert flushed.fire
    assert flushed.state == ThrottleState(last_fire=at(301))
    assert flushed.reason == (
        "fired: once_after 5m, window from 10:00:00Z ended at 10:05:00Z; 3 events held"
    )
    assert not throttle_due(spec, flushed.state, at(10_000))


def test_once_after_event_after_the_window_flushes_it() -> None:
    """When no sweeper ran, an event at or after the end fires the window, itself included."""
    spec = Spec(once_after=60)
    state = check_throttle(spec, ThrottleState(), T0).state
    state = check_throttle(spec, state, at(30)).state
    result = check_throttle(spec, state, at(60))
    assert result.fire
    assert result.state == ThrottleState(last_fire=at(60))
    assert result.reason == (
        "fired: once_after 1m, window from 10:00:00Z ended at 10:01:00Z; "
        "3 events held, this one included"
    )
    reopened = check_throttle(spec, result.state, at(61))
    assert not reopened.fire
    assert reopened.state == ThrottleState(window_start=at(61), count=1, last_fire=at(60))


def test_once_after_a_flush_never_fires_twice() -> None:
    """A second sweeper with the flushed row (or a stale due check) fires nothing."""
    spec = Spec(once_after=60)
    held = check_throttle(spec, ThrottleState(), T0).state
    flushed = flush_throttle(spec, held, at(90))
    assert flushed.fire
    again = flush_throttle(spec, flushed.state, at(91))
    assert not again.fire
    assert again.state == flushed.state
    assert again.reason == "throttled: once_after 1m, nothing held"


def test_once_after_time_going_backwards_stays_in_the_window() -> None:
    """An event stamped before the window's start is counted in it, not a crash or a fire."""
    spec = Spec(once_after=60)
    held = check_throttle(spec, ThrottleState(), T0).state
    back = check_throttle(spec, held, at(-3_600))
    assert not back.fire
    assert back.state == ThrottleState(window_start=T0, count=2)
    assert not throttle_due(spec, back.state, at(-3_600))


@settings(max_examples=200)
@given(
    st.floats(min_value=1, max_value=600),
    st.lists(
        st.tuples(st.sampled_from(["event", "sweep"]), st.floats(min_value=0, max_value=400)),
        min_size=1,
        max_size=40,
    ),
)
def test_once_after_accounts_for_every_event(window: float, steps: list[tuple[str, float]]) -> None:
    """Property: with events and sweeps interleaved, each event is in exactly one fire or still
    held, fires happen only once a window has lasted W, and a fire always resets the state."""
    spec = Spec(once_after=window)
    state = ThrottleState()
    now = T0
    events = fired_events = 0
    for what, gap in steps:
        now += timedelta(seconds=gap)
        before = state
        if what == "event":
            events += 1
            result = check_throttle(spec, state, now)
        else:
            result = flush_throttle(spec, state, now)
        if result.fire:
            assert before.window_start is not None
            assert (now - before.window_start).total_seconds() >= window
            fired_events += before.count + (1 if what == "event" else 0)
            assert result.state == ThrottleState(last_fire=now)
        state = result.state
    assert fired_events + state.count == events


# --- accumulate_within ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "times", "fired"),
    [
        (3, [0, 10, 20], [False, False, True]),
        (3, [0, 10, 20, 30, 40, 50], [False, False, True, False, False, True]),
        (3, [0, 10, 59.999], [False, False, True]),
        (3, [0, 10, 60], [False, False, False]),  # the window [0, 60) closed: 60 opens a new one
        (3, [0, 10, 60, 70, 80], [False, False, False, False, True]),
        (2, [0, 100, 130, 200], [False, False, True, False]),
        (1, [0, 1, 2], [True, True, True]),
        (1, [0, 1000], [True, True]),
        (3, [0, -30, 10], [False, False, True]),  # clock stepped back: inside the window
    ],
)
def test_accumulate_within_sequences(threshold: int, times: list[float], fired: list[bool]) -> None:
    """Fire when N events arrive within W of the window's first; late events open a new window."""
    assert drive(Spec(accumulate_within=60, threshold=threshold), times) == fired


def test_accumulate_within_states_and_reasons() -> None:
    """The window, the count and the reason at each step; a fire resets and records last_fire."""
    spec = Spec(accumulate_within=60, threshold=3)
    one = check_throttle(spec, ThrottleState(), T0)
    assert one.state == ThrottleState(window_start=T0, count=1)
    assert one.reason == (
        "throttled: accumulate_within 1m, 1 of 3 events since 10:00:00Z; "
        "the window closes at 10:01:00Z"
    )
    two = check_throttle(spec, one.state, at(20))
    assert two.state == ThrottleState(window_start=T0, count=2)
    three = check_throttle(spec, two.state, at(40))
    assert three.fire
    assert three.state == ThrottleState(last_fire=at(40))
    assert three.reason == (
        "fired: accumulate_within 1m, 3 events since 10:00:00Z reached the threshold of 3"
    )
    expired = check_throttle(spec, two.state, at(90))
    assert not expired.fire
    assert expired.state == ThrottleState(window_start=at(90), count=1)
    assert not throttle_due(spec, two.state, at(10_000))  # only once_after is ever due


def test_accumulate_keeps_last_fire_while_accumulating() -> None:
    """last_fire survives an open window (the dashboard shows when it last fired)."""
    spec = Spec(accumulate_within=60, threshold=2)
    state = ThrottleState(last_fire=at(-500))
    result = check_throttle(spec, state, T0)
    assert result.state == ThrottleState(window_start=T0, count=1, last_fire=at(-500))


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=60))
def test_accumulate_within_one_window_fires_every_nth(threshold: int, events: int) -> None:
    """Property: N·k events well inside W fire exactly k times, on every N-th event."""
    spec = Spec(accumulate_within=3_600, threshold=threshold)
    fired = drive(spec, [i * 0.5 for i in range(events)])
    assert fired == [(i + 1) % threshold == 0 for i in range(events)]


# --- state --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        ThrottleState(),
        ThrottleState(window_start=T0, count=4),
        ThrottleState(last_fire=T0, count=2),
        ThrottleState(
            window_start=datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
            count=1,
            last_fire=at(-1),
        ),
    ],
)
def test_state_json_round_trip(state: ThrottleState) -> None:
    """to_dict is JSON-safe and from_dict gives the same state back."""
    data = json.loads(json.dumps(state.to_dict()))
    assert ThrottleState.from_dict(data) == state


def test_state_to_dict_shape() -> None:
    """ISO 8601 strings, or null."""
    assert ThrottleState(window_start=T0, count=2).to_dict() == {
        "window_start": "2024-05-01T10:00:00+00:00",
        "count": 2,
        "last_fire": None,
    }


def test_state_from_empty_dict_is_initial() -> None:
    """A fresh row (no keys) is the initial state."""
    assert ThrottleState.from_dict({}) == ThrottleState()


@pytest.mark.parametrize(
    ("data", "exc", "match"),
    [
        ({"count": -1}, ValueError, "count must be ≥ 0, got -1"),
        ({"count": "3"}, ValueError, "count must be an int, got '3'"),
        ({"count": True}, ValueError, "count must be an int"),
        ({"window_start": "soon"}, ValueError, "window_start is not ISO 8601: 'soon'"),
        ({"last_fire": 5}, ValueError, "last_fire must be an ISO 8601 string or null"),
        ({"last_fire": "2024-05-01T10:00:00"}, ValueError, "last_fire must be timezone-aware"),
    ],
)
def test_state_from_dict_refusals(data: dict[str, Any], exc: type[Exception], match: str) -> None:
    """A damaged row is refused with what is wrong in it."""
    with pytest.raises(exc, match=match):
        ThrottleState.from_dict(data)


def test_state_constructor_checks() -> None:
    """The dataclass refuses a negative count and naive times."""
    with pytest.raises(ValueError, match="count must be ≥ 0"):
        ThrottleState(count=-1)
    with pytest.raises(ValueError, match="window_start must be timezone-aware"):
        ThrottleState(window_start=datetime(2024, 5, 1))
    with pytest.raises(TypeError, match="count must be an int"):
        ThrottleState(count=1.5)  # type: ignore[arg-type]


def test_mode_change_carries_state_over_harmlessly() -> None:
    """A playbook switched from once_after to once_within keeps working from the stored row."""
    held = check_throttle(Spec(once_after=60), ThrottleState(), T0).state
    result = check_throttle(Spec(once_within=60), held, at(5))
    assert result.fire
    assert result.state == ThrottleState(last_fire=at(5))
