"""Silences: Alertmanager matchers, time ranges, validation, JSON round trips, diagnosis labels."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grace.governance._silences import (
    MATCHER_SYNTAX,
    LabelMatcher,
    Silence,
    diagnosis_labels,
    new_silence,
    parse_matcher,
    silencing,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
LABELS = {
    "playbook": "restart_api",
    "service": "api",
    "kind": "log",
    "severity": "error",
    "source": "log:/var/log/api.log",
    "signature": "abc123",
}


def make(
    *matchers: str,
    id: str = "s1",
    start: timedelta = timedelta(0),
    length: timedelta = timedelta(hours=2),
    **overrides: Any,
) -> Silence:
    """A silence over ``[T0 + start, T0 + start + length)``, created at T0."""
    fields: dict[str, Any] = {
        "id": id,
        "matchers": matchers or ("service=api",),
        "starts_at": T0 + start,
        "ends_at": T0 + start + length,
        "author": "alice",
        "comment": "deploying api, expect restarts",
        "created_at": T0,
    }
    fields.update(overrides)
    return new_silence(**fields)


# --- matchers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ("service=api", "service", "=", "api"),
        ('service="api"', "service", "=", "api"),
        ("severity!=info", "severity", "!=", "info"),
        ('playbook=~"restart_.*"', "playbook", "=~", "restart_.*"),
        ("playbook=~restart_.*", "playbook", "=~", "restart_.*"),
        ('alertname!~"Watchdog|InfoInhibitor"', "alertname", "!~", "Watchdog|InfoInhibitor"),
        ("  service  =~  api|web  ", "service", "=~", "api|web"),
        ("env=", "env", "=", ""),
        ('env=""', "env", "=", ""),
        ('msg="a \\"quoted\\" word"', "msg", "=", 'a "quoted" word'),
        ('path="C:\\\\temp"', "path", "=", "C:\\temp"),
        ('note=" padded "', "note", "=", " padded "),
        ("expr=a=b", "expr", "=", "a=b"),
        ("expr=!~x", "expr", "=", "!~x"),
        ("_private=1", "_private", "=", "1"),
        ("Team2=Ops", "Team2", "=", "Ops"),
        ('city="Zürich"', "city", "=", "Zürich"),
    ],
)
def test_parse_matcher(text: str, name: str, op: str, value: str) -> None:
    """Every operator, quoted or not, with blanks, escapes and operators inside the value."""
    assert parse_matcher(text) == LabelMatcher(name, op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("service", "no operator"),
        ("", "no operator"),
        ("=api", "no label name before the operator"),
        ("  !=api", "no label name before the operator"),
        ("1service=api", "invalid label name '1service'"),
        ("app.kubernetes.io/name=api", "invalid label name 'app.kubernetes.io/name'"),
        ("ser vice=api", "invalid label name 'ser vice'"),
        ('service=~"("', r"invalid regex '\(': missing \)"),
        ("service!~[a-", "invalid regex '\\[a-'"),
        ('service="api', "malformed quoted value"),
        ('service="api" extra', "malformed quoted value"),
    ],
)
def test_parse_matcher_refusals(text: str, match: str) -> None:
    """A bad matcher is refused with the reason, the text itself and the syntax."""
    with pytest.raises(ValueError, match=match) as info:
        parse_matcher(text)
    message = str(info.value)
    assert message.startswith(f"invalid matcher {text!r}: ")
    assert message.endswith(f"syntax: {MATCHER_SYNTAX}")


def test_matcher_constructor_validates() -> None:
    """A LabelMatcher built directly checks its name, operator and regex too."""
    with pytest.raises(ValueError, match="invalid label name 'a-b'"):
        LabelMatcher("a-b", "=", "x")
    with pytest.raises(ValueError, match="invalid matcher operator '=='"):
        LabelMatcher("a", "==", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label 'a': invalid regex"):
        LabelMatcher("a", "=~", "(")
    assert LabelMatcher("a", "=", "(").matches({"a": "("})  # equality never compiles a regex


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ("service=api", {"service": "api"}, True),
        ("service=api", {"service": "api2"}, False),
        ("service=api", {}, False),
        ("service!=api", {"service": "web"}, True),
        ("service!=api", {"service": "api"}, False),
        ("service!=api", {}, True),
        ("service=", {}, True),
        ("service=", {"service": ""}, True),
        ("service=", {"service": "api"}, False),
        ("service!=", {"service": "api"}, True),
        ("service!=", {}, False),
        # regexes are fully anchored, like Alertmanager's
        ("service=~api", {"service": "api"}, True),
        ("service=~api", {"service": "api-gateway"}, False),
        ("service=~api", {"service": "my-api"}, False),
        ("service=~api.*", {"service": "api-gateway"}, True),
        ("service=~api|web", {"service": "web"}, True),
        ("service=~api|web", {"service": "webapi"}, False),
        ("service=~.*", {}, True),
        ("service=~.+", {}, False),
        ("service!~api|web", {"service": "db"}, True),
        ("service!~api|web", {"service": "api"}, False),
        ("service!~api", {"service": "api-gateway"}, True),
        ("service!~.+", {}, True),
        ("service=~API", {"service": "api"}, False),
        ("service=~(?i)API", {"service": "api"}, True),
    ],
)
def test_matcher_semantics(matcher: str, labels: dict[str, str], expected: bool) -> None:
    """Equality, inequality, anchored regexes; a missing label is the empty string."""
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (LabelMatcher("service", "=~", "api|web"), 'service=~"api|web"'),
        (LabelMatcher("service", "=", "api"), 'service="api"'),
        (LabelMatcher("severity", "!=", "info"), 'severity!="info"'),
        (LabelMatcher("msg", "!~", 'say "hi"\\n'), 'msg!~"say \\"hi\\"\\\\n"'),
        (LabelMatcher("city", "=", "Zürich"), 'city="Zürich"'),
    ],
)
def test_matcher_str_is_alertmanager_form(matcher: LabelMatcher, text: str) -> None:
    """str() quotes the value (escaping quotes and backslashes) and parses back to the same."""
    assert str(matcher) == text
    assert parse_matcher(text) == matcher


_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
_values = st.text(max_size=20)


@settings(max_examples=200)
@given(_names, st.sampled_from(["=", "!="]), _values, _values)
def test_matcher_round_trip_and_negation(name: str, op: str, value: str, actual: str) -> None:
    """Property: str() parses back to an equal matcher; = and != always disagree."""
    matcher = LabelMatcher(name, op, value)  # type: ignore[arg-type]
    assert parse_matcher(str(matcher)) == matcher
    negated = LabelMatcher(name, "!=" if op == "=" else "=", value)
    labels = {name: actual}
    assert matcher.matches(labels) is not negated.matches(labels)


@settings(max_examples=200)
@given(_names, _values, _values)
def test_escaped_regex_is_equality(name: str, value: str, actual: str) -> None:
    """Property: =~ on an escaped value is exactly =, and !~ its negation (full anchoring)."""
    labels = {name: actual}
    regex = LabelMatcher(name, "=~", re.escape(value))
    assert regex.matches(labels) is (actual == value)
    assert LabelMatcher(name, "!~", re.escape(value)).matches(labels) is (actual != value)
    assert parse_matcher(str(regex)) == regex


# --- silences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected", "state"),
    [
        (timedelta(seconds=-1), False, "pending"),
        (timedelta(0), True, "active"),
        (timedelta(hours=1), True, "active"),
        (timedelta(hours=2) - timedelta(microseconds=1), True, "active"),
        (timedelta(hours=2), False, "expired"),
        (timedelta(days=3), False, "expired"),
    ],
)
def test_active_is_half_open(offset: timedelta, expected: bool, state: str) -> None:
    """Active from starts_at (inclusive) to ends_at (exclusive); state names the three phases."""
    silence = make()
    assert silence.active(T0 + offset) is expected
    assert silence.state(T0 + offset) == state


def test_active_compares_instants_across_time_zones() -> None:
    """`now` in another offset is the same instant: 12:30+02:00 is 10:30Z."""
    silence = make()
    paris = timezone(timedelta(hours=2))
    assert silence.active(datetime(2024, 5, 1, 12, 30, tzinfo=paris))
    assert not silence.active(datetime(2024, 5, 1, 14, 0, tzinfo=paris))


def test_active_refuses_a_naive_now() -> None:
    """A naive `now` is a bug in the caller, said clearly rather than a TypeError on compare."""
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        make().active(datetime(2024, 5, 1, 10, 30))


def test_matches_needs_every_matcher() -> None:
    """Matchers are ANDed."""
    silence = make("service=api", "severity=~error|critical", "playbook!=ignored")
    assert silence.matches(LABELS)
    assert not silence.matches({**LABELS, "severity": "warning"})
    assert not silence.matches({**LABELS, "service": "web"})
    assert not silence.matches({**LABELS, "playbook": "ignored"})


def test_new_silence_accepts_parsed_matchers_and_strings() -> None:
    """Matchers may be given as text or as LabelMatcher objects, in any mix."""
    silence = make("service=api", LabelMatcher("kind", "=", "log"))  # type: ignore[arg-type]
    assert silence.matchers == (
        LabelMatcher("service", "=", "api"),
        LabelMatcher("kind", "=", "log"),
    )


@pytest.mark.parametrize(
    ("overrides", "exc", "match"),
    [
        ({"matchers": []}, ValueError, "needs at least one matcher, e.g. 'service=api'"),
        ({"matchers": ["service"]}, ValueError, "invalid matcher 'service': no operator"),
        ({"matchers": ["service!=web"]}, ValueError, "would mute nearly everything"),
        ({"matchers": ["service=~.*", "env="]}, ValueError, "add a matcher that needs a non-empty"),
        ({"author": ""}, ValueError, "needs an author"),
        ({"author": "   "}, ValueError, "needs an author"),
        ({"comment": ""}, ValueError, "needs a comment"),
        ({"id": ""}, ValueError, "needs a non-empty id"),
        (
            {"ends_at": T0},
            ValueError,
            "ends_at 2024-05-01T10:00:00\\+00:00 must be after starts_at",
        ),
        ({"ends_at": T0 - timedelta(1)}, ValueError, "must be after starts_at"),
        (
            {"starts_at": T0 - timedelta(hours=3), "ends_at": T0 - timedelta(hours=1)},
            ValueError,
            "is already in the past",
        ),
        ({"starts_at": datetime(2024, 5, 1)}, ValueError, "starts_at must be timezone-aware"),
        ({"ends_at": datetime(2024, 6, 1)}, ValueError, "ends_at must be timezone-aware"),
        ({"created_at": datetime(2024, 5, 1)}, ValueError, "created_at must be timezone-aware"),
        ({"starts_at": "2024-05-01"}, TypeError, "starts_at must be a datetime"),
    ],
)
def test_new_silence_refusals(overrides: dict[str, Any], exc: type[Exception], match: str) -> None:
    """Each invalid silence is refused with a message saying what to fix."""
    with pytest.raises(exc, match=match):
        make(**overrides)


def test_silence_invariants_hold_without_new_silence() -> None:
    """The dataclass itself refuses a silence with no matchers (which would match everything)."""
    with pytest.raises(ValueError, match="needs at least one matcher"):
        Silence("s", (), T0, T0 + timedelta(1), "alice", "why", T0)
    with pytest.raises(ValueError, match="is before starts_at"):
        Silence("s", (parse_matcher("a=b"),), T0, T0 - timedelta(1), "alice", "why", T0)
    with pytest.raises(TypeError, match="must be LabelMatcher"):
        Silence("s", ("a=b",), T0, T0 + timedelta(1), "alice", "why", T0)  # type: ignore[arg-type]


def test_expire_ends_an_active_silence_now() -> None:
    """Expiring an active silence ends it at `now`; from then on it mutes nothing."""
    now = T0 + timedelta(minutes=30)
    expired = make().expire(now)
    assert expired.ends_at == now
    assert expired.starts_at == T0
    assert not expired.active(now)
    assert expired.state(now) == "expired"
    assert expired.active(now - timedelta(minutes=1))  # the history stays true


def test_expire_a_pending_silence_means_it_never_starts() -> None:
    """Expiring a silence before its start collapses it to an empty range at `now`."""
    silence = make(start=timedelta(hours=1))
    expired = silence.expire(T0)
    assert expired.starts_at == expired.ends_at == T0
    assert not any(expired.active(T0 + timedelta(minutes=m)) for m in range(0, 240, 10))
    assert Silence.from_dict(expired.to_dict()) == expired


def test_expire_twice_is_refused() -> None:
    """An already expired silence cannot be expired again (the CLI says so)."""
    with pytest.raises(ValueError, match="silence s1 already expired at 2024-05-01T12:00:00"):
        make().expire(T0 + timedelta(hours=2))


def test_silencing_picks_the_first_active_matching() -> None:
    """Only an active silence whose matchers all match counts; the first such wins."""
    pending = make("service=api", id="pending", start=timedelta(hours=1))
    other = make("service=web", id="other")
    first = make("service=api", id="first")
    second = make("playbook=~restart_.*", id="second")
    silences = [pending, other, first, second]
    now = T0 + timedelta(minutes=5)
    assert silencing(silences, LABELS, now) is first
    assert silencing(silences[::-1], LABELS, now) is second
    assert silencing(silences, {**LABELS, "service": "db"}, now) is second
    assert silencing(silences, {**LABELS, "service": "db", "playbook": "x"}, now) is None
    assert silencing([], LABELS, now) is None
    assert silencing(silences, LABELS, T0 + timedelta(hours=3)) is None
    assert silencing(silences, LABELS, T0 + timedelta(hours=1, minutes=5)) is pending  # now started


def test_silencing_accepts_any_iterable() -> None:
    """A generator (rows streamed from the store) works, and stops at the first hit."""
    seen: list[str] = []

    def rows() -> Any:
        for s in (make(id="a"), make(id="b")):
            seen.append(s.id)
            yield s

    hit = silencing(rows(), LABELS, T0)
    assert hit is not None
    assert hit.id == "a"
    assert seen == ["a"]


# --- JSON round trip --------------------------------------------------------------------------


def test_to_dict_is_json_with_strings_and_iso_times() -> None:
    """Matchers are their Alertmanager strings and datetimes ISO 8601."""
    silence = make('alertname=~"Disk.*"', "service=api")
    data = silence.to_dict()
    assert data == {
        "id": "s1",
        "matchers": ['alertname=~"Disk.*"', 'service="api"'],
        "starts_at": "2024-05-01T10:00:00+00:00",
        "ends_at": "2024-05-01T12:00:00+00:00",
        "author": "alice",
        "comment": "deploying api, expect restarts",
        "created_at": "2024-05-01T10:00:00+00:00",
    }
    assert Silence.from_dict(json.loads(json.dumps(data))) == silence


def test_round_trip_keeps_offsets_and_awkward_values() -> None:
    """Quotes, backslashes, unicode and non-UTC offsets survive a JSON round trip."""
    tz = timezone(timedelta(hours=-5, minutes=-30))
    silence = new_silence(
        id="s-ü",
        matchers=[LabelMatcher("msg", "=~", 'a "b" \\d+ ü'), "kind!=metric"],
        starts_at=datetime(2024, 5, 1, 5, 0, tzinfo=tz),
        ends_at=datetime(2024, 5, 2, 5, 0, 0, 123456, tzinfo=tz),
        author="bob",
        comment='fixing "it"',
        created_at=datetime(2024, 5, 1, 5, 0, tzinfo=tz),
    )
    back = Silence.from_dict(json.loads(json.dumps(silence.to_dict())))
    assert back == silence
    assert back.ends_at.utcoffset() == timedelta(hours=-5, minutes=-30)
    assert back.matches({"msg": 'a "b" 42 ü'})


def test_from_dict_accepts_z_suffix() -> None:
    """Times written by other tools with a trailing Z are read."""
    data = make().to_dict() | {"ends_at": "2024-05-01T12:00:00Z"}
    assert Silence.from_dict(data).ends_at == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"author": None}, "silence record lacks author"),
        ({"matchers": "service=api"}, "matchers must be a list of strings"),
        ({"matchers": ["service"]}, "invalid matcher 'service'"),
        ({"starts_at": "yesterday"}, "starts_at is not ISO 8601: 'yesterday'"),
        ({"ends_at": 12}, "ends_at must be an ISO 8601 string, got 12"),
        ({"created_at": "2024-05-01T10:00:00"}, "created_at must be timezone-aware"),
        ({"comment": " "}, "needs a comment"),
    ],
)
def test_from_dict_refusals(change: dict[str, Any], match: str) -> None:
    """A damaged record is refused with what is wrong in it."""
    data = make().to_dict()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(ValueError, match=match):
        Silence.from_dict(data)


# --- diagnosis labels -------------------------------------------------------------------------


def _labels(attributes: dict[str, Any]) -> dict[str, str]:
    return diagnosis_labels(
        playbook="restart_api",
        service="api",
        kind="log",
        severity="error",
        source="log:/var/log/api.log",
        signature="abc123",
        attributes=attributes,
    )


def test_diagnosis_labels_fixed_fields() -> None:
    """Without attribute labels: exactly the six fixed names."""
    assert _labels({}) == LABELS
    assert _labels({"other": "ignored", "labels": "not a mapping"}) == LABELS


def test_diagnosis_labels_include_alert_labels_with_fixed_names_winning() -> None:
    """Alertmanager labels are added; a conflicting one (service) loses to the fixed field."""
    labels = _labels(
        {
            "labels": {
                "alertname": "HighErrorRate",
                "instance": "api-1:9100",
                "service": "spoofed",
                "severity": "page",
            }
        }
    )
    assert labels == {**LABELS, "alertname": "HighErrorRate", "instance": "api-1:9100"}


def test_diagnosis_labels_flatten_non_strings() -> None:
    """Non-string values become JSON text, None is left out, keys become strings."""
    labels = _labels(
        {"labels": {"replicas": 3, "canary": True, "gone": None, 7: "x", "tags": ["a"]}}
    )
    assert labels["replicas"] == "3"
    assert labels["canary"] == "true"
    assert "gone" not in labels
    assert labels["7"] == "x"
    assert labels["tags"] == '["a"]'
    assert all(isinstance(v, str) for v in labels.values())


def test_silence_on_an_alert_label() -> None:
    """End to end: a silence on alertname mutes the diagnosis of that alert, not others."""
    silence = make('alertname=~"Watchdog|InfoInhibitor"')
    watchdog = _labels({"labels": {"alertname": "Watchdog"}})
    real = _labels({"labels": {"alertname": "HighErrorRate"}})
    assert silencing([silence], watchdog, T0) is silence
    assert silencing([silence], real, T0) is None
