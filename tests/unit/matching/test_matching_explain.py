"""Matcher.explain: which triggers matched, which nearly did, and why."""

from __future__ import annotations

from matching_support import event, trigger

from grace.matching import Explanation, Matcher


def explain_one(t: object, **event_fields: object) -> Explanation:
    """Explain a single trigger against one event."""
    message = str(event_fields.pop("message", ""))
    (found,) = Matcher([t], backend="re").explain(event(message, **event_fields))  # type: ignore[list-item]
    return found


class TestReasons:
    def test_kind_mismatch_names_what_the_type_matches(self) -> None:
        """A kind mismatch says which kinds the trigger type would match."""
        found = explain_one(trigger(type="health"), message="x", kind="log")
        assert not found.matched
        assert found.reasons == (
            "event kind 'log' does not match trigger type 'health' (it matches health)",
        )

    def test_manual_triggers_match_no_event_kind(self) -> None:
        """A manual trigger is explained as matching no event kind."""
        found = explain_one(trigger(type="manual"), kind="manual")
        assert "(it matches no event kind)" in found.reasons[0]

    def test_severity_below_minimum(self) -> None:
        """A too-low severity is explained with both severities."""
        found = explain_one(trigger(severity="error"), severity="warning")
        assert found.reasons == ("severity warning is below the trigger's minimum error",)

    def test_service_mismatch(self) -> None:
        """A service mismatch names both services."""
        found = explain_one(trigger(service="vectors"), service="api")
        assert found.reasons == ("service 'api' is not 'vectors'",)

    def test_pattern_miss(self) -> None:
        """A pattern miss quotes the pattern and the message."""
        found = explain_one(trigger(pattern="database is locked"), message="all good")
        assert found.reasons == (
            "pattern 'database is locked' did not match the message 'all good'",
        )

    def test_metric_and_schedule_reasons(self) -> None:
        """Metric and schedule rules explain themselves."""
        metric = trigger(type="metric", metric="disk", threshold=90.0)
        below = explain_one(metric, kind="metric", attributes={"metric": "disk", "value": 80})
        assert below.reasons == ("value 80 is below the threshold 90",)
        other = explain_one(metric, kind="metric", attributes={"metric": "cpu", "value": "x"})
        assert other.reasons == ("metric 'cpu' is not 'disk'", "value 'x' is not a number")
        missing = explain_one(metric, kind="metric", attributes={})
        assert missing.reasons[0] == "the event names no metric (expected 'disk')"
        nightly = trigger("nightly", type="scheduled")
        wrong = explain_one(nightly, kind="scheduled", attributes={"playbook": "hourly"})
        assert wrong.reasons == ("the scheduled event is for playbook 'hourly', not 'nightly'",)
        assert explain_one(nightly, kind="scheduled").reasons == (
            "the scheduled event names no playbook (attributes.playbook)",
        )

    def test_matched_trigger_lists_what_passed_and_the_captures(self) -> None:
        """A match lists every check that passed, with the matched text and captures."""
        t = trigger(pattern=r"No module named '(?P<module>\w+)'", severity="error", service="api")
        found = explain_one(
            t, message="No module named 'faiss'", service="api", severity="critical"
        )
        assert found.matched
        assert not found.near_miss
        assert found.reasons == (
            "event kind 'log' matches trigger type 'log_message'",
            "severity critical meets the trigger's minimum error",
            "service 'api' matches",
            "pattern 'No module named '(?P<module>\\w+)'' matched \"No module named 'faiss'\" (captures module='faiss')",
        )


class TestNearMisses:
    def test_one_failed_check_is_a_near_miss(self) -> None:
        """Everything but one check passed: a near miss."""
        found = explain_one(
            trigger(pattern="locked", service="vectors"), message="locked", service="api"
        )
        assert found.near_miss
        assert not found.matched

    def test_two_failed_checks_are_not_a_near_miss(self) -> None:
        """Two failed checks: not a near miss, and both reasons are given."""
        found = explain_one(
            trigger(pattern="locked", service="vectors"), message="fine", service="api"
        )
        assert not found.near_miss
        assert len(found.reasons) == 2

    def test_pattern_that_matches_ignoring_case(self) -> None:
        """A pattern that only misses on case says so."""
        found = explain_one(trigger(pattern="database is locked"), message="Database Is Locked")
        assert found.near_miss
        assert found.reasons[0].endswith(", but it matches ignoring case")

    def test_pattern_that_matches_with_whitespace_normalised(self) -> None:
        """A pattern that only misses on spacing says so."""
        found = explain_one(trigger(pattern="database is locked"), message="database  is\tlocked")
        assert found.reasons[0].endswith(
            ", but it matches with whitespace normalised (runs of blanks as one space)"
        )
        both = explain_one(trigger(pattern="database is locked"), message="DATABASE  IS LOCKED")
        assert both.reasons[0].endswith(", but it matches ignoring case with whitespace normalised")

    def test_long_messages_are_shortened(self) -> None:
        """The quoted message is cut to a readable excerpt."""
        found = explain_one(trigger(pattern="nope"), message="x" * 500)
        assert len(found.reasons[0]) < 150
        assert "…" in found.reasons[0]


class TestAgreesWithMatch:
    def test_explain_covers_every_trigger_in_result_order(self, backend: str) -> None:
        """explain returns one explanation per trigger, ordered like match results."""
        triggers = [
            trigger("b", "boom"),
            trigger("a", "boom", priority="low"),
            trigger("c", "other", priority="high"),
        ]
        matcher = Matcher(triggers, backend=backend)
        explained = matcher.explain(event("boom"))
        assert [e.trigger.playbook for e in explained] == ["c", "b", "a"]
        matched = [(e.trigger.playbook, e.trigger.index) for e in explained if e.matched]
        assert matched == [(m.playbook, m.trigger_index) for m in matcher.match(event("boom"))]
