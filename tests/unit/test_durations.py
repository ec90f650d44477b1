"""Durations: every accepted spelling, every refusal with its reason, and the short format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from grace.durations import ACCEPTED_FORMS, MAX_SECONDS, Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (1.5, 1.5),
        ("30", 30.0),
        (" 1.5 ", 1.5),
        (".5", 0.5),
        ("0", 0.0),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7_200.0),
        ("1d", 86_400.0),
        ("1w", 604_800.0),
        ("1h30m", 5_400.0),
        ("1h 30m", 5_400.0),
        ("2d 4h", 187_200.0),
        ("1w2d3h4m5s6ms", 604_800 + 172_800 + 10_800 + 240 + 5 + 0.006),
        ("1m30s", 90.0),
        ("1.5h", 5_400.0),
        ("0.1s", 0.1),
        ("1 ms", 0.001),
        ("1 millisecond", 0.001),
        ("250 milliseconds", 0.25),
        ("1 second", 1.0),
        ("30 seconds", 30.0),
        ("10 secs", 10.0),
        ("1 minute", 60.0),
        ("5 minutes", 300.0),
        ("5 min", 300.0),
        ("1 hour", 3_600.0),
        ("3 hours", 10_800.0),
        ("2 hrs", 7_200.0),
        ("1 day", 86_400.0),
        ("2 days", 172_800.0),
        ("1 week", 604_800.0),
        ("2 weeks", 1_209_600.0),
        ("1 hour 30 minutes", 5_400.0),
        ("5 Minutes", 300.0),
        ("2H", 7_200.0),
        ("  5m  ", 300.0),
    ],
)
def test_accepted_forms(value: object, seconds: float) -> None:
    """Numbers, numeric strings, unit suffixes, combinations and words all parse to seconds."""
    assert parse_duration(value) == seconds


def test_combined_parts_sum_exactly() -> None:
    """Parts are summed exactly and rounded once: no float drift from adding 0.1 three times."""
    assert parse_duration("0.1s") + 0.2 != 0.3  # the drift being avoided
    assert parse_duration("1s300ms") == 1.3
    assert parse_duration("2m 0.3s") == 120.3


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("abc", "invalid duration 'abc': cannot read 'abc'"),
        ("-5m", "negative duration '-5m'"),
        ("-5", "negative duration '-5'"),
        (-1, "negative duration -1"),
        (-0.5, "negative duration -0.5"),
        ("5 parsecs", "unknown unit 'parsecs'"),
        ("5y", "unknown unit 'y'"),
        ("1h30", "'30' has no unit"),
        ("30m1h", "'h' after 'm'; give each unit once, largest first"),
        ("1h1h", "'h' after 'h'"),
        ("1h,30m", "cannot read ',30m'"),
        ("5 minutes ago", "cannot read 'ago'"),
        ("1e3", "unknown unit 'e'"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (True, "a boolean is not a duration"),
        (None, "expected a number or a string, got NoneType"),
        ([5], "expected a number or a string, got list"),
        ("9" * 60 + "w", "too large: at most 86399999999999 seconds"),
        ("99999999999999s", "too large"),
        (1e300, "too large"),
        ("1" * 100, "longer than 64 characters"),
    ],
)
def test_refusals_say_what_was_wrong(value: object, match: str) -> None:
    """Each bad value is refused with its own reason, not a generic 'invalid'."""
    with pytest.raises(ValueError, match=match):
        parse_duration(value)


def test_error_names_where_and_lists_the_accepted_forms() -> None:
    """`where` leads the message and the accepted forms follow, so one read is enough to fix it."""
    with pytest.raises(ValueError) as info:
        parse_duration("5 parsecs", where="restart.yaml:7 throttle.once_within")
    message = str(info.value)
    assert message.startswith("restart.yaml:7 throttle.once_within: invalid duration '5 parsecs'")
    assert message.endswith(f"accepted forms: {ACCEPTED_FORMS}")
    for example in ("'5m'", "'1h30m'", "'500ms'", "'5 minutes'", "'2 days'"):
        assert example in message


def test_the_longest_duration_converts_to_a_timedelta() -> None:
    """MAX_SECONDS is accepted and is timedelta's limit, so callers can always convert."""
    assert parse_duration(MAX_SECONDS) == MAX_SECONDS
    assert parse_duration(f"{MAX_SECONDS}s") == MAX_SECONDS
    assert timedelta(seconds=MAX_SECONDS) <= timedelta.max


def test_error_without_where_has_no_dangling_prefix() -> None:
    """With no `where`, the message starts with what was wrong."""
    with pytest.raises(ValueError, match=r"^invalid duration 'x'"):
        parse_duration("x")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (300, "5m"),
        (5_400, "1h30m"),
        (3_600, "1h"),
        (86_400, "1d"),
        (90_061, "1d1h1m1s"),
        (604_800, "1w"),
        (1_209_600 + 1, "2w1s"),
        (0.25, "250ms"),
        (1.5, "1s500ms"),
        (0.001, "1ms"),
        (0.0004, "0s"),
        (0.0006, "1ms"),
        (59.9996, "1m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """The short form: largest units first, zero parts left out, rounded to the millisecond."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, -0.001, float("nan"), float("inf")])
def test_format_duration_refuses_what_is_not_a_duration(bad: float) -> None:
    """Negative and non-finite seconds cannot be formatted."""
    with pytest.raises(ValueError, match=r"cannot format .* as a duration"):
        format_duration(bad)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_is_identity_for_whole_seconds(seconds: int) -> None:
    """Property: parse_duration(format_duration(x)) == x for any whole number of seconds."""
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_is_identity_for_whole_milliseconds(millis: int) -> None:
    """Property: whole milliseconds survive the round trip exactly, too."""
    assert parse_duration(format_duration(millis / 1000)) == millis / 1000


class _Throttle(BaseModel):
    within: Duration
    after: Duration | None = None


def test_duration_as_a_pydantic_field() -> None:
    """As a field type it accepts every form and stores seconds."""
    model = _Throttle(within="5 minutes", after="1h30m")
    assert model.within == 300.0
    assert model.after == 5_400.0
    assert _Throttle(within=30).within == 30.0
    assert _Throttle.model_validate({"within": "2d"}).within == 172_800.0


def test_duration_field_errors_are_pydantic_validation_errors() -> None:
    """A bad value is an ordinary ValidationError naming the field and the parser's reason."""
    with pytest.raises(ValidationError) as info:
        _Throttle(within="5 parsecs")
    errors = info.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("within",)
    assert errors[0]["type"] == "value_error"
    assert "unknown unit 'parsecs'" in errors[0]["msg"]
    with pytest.raises(ValidationError, match="negative duration"):
        _Throttle(within=-3)


def test_duration_json_schema_allows_numbers_and_strings() -> None:
    """The generated schema (editors validate playbooks with it) accepts '5m' as well as 300."""
    schema = _Throttle.model_json_schema()["properties"]["within"]
    assert {"type": "number", "minimum": 0} in schema["anyOf"]
    assert any(branch.get("type") == "string" for branch in schema["anyOf"])
