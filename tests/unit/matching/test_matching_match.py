"""Matcher.match and match_playbooks: kinds, filters, captures, ordering, signatures."""

from __future__ import annotations

import pytest
from matching_support import event, trigger

from grace.matching import TRIGGER_KINDS, Matcher, Trigger, signature


class TestKinds:
    @pytest.mark.parametrize(
        ("trigger_type", "kind", "fires"),
        [
            ("log_message", "log", True),
            ("log_message", "exception", True),
            ("log_message", "health", False),
            ("exception", "exception", True),
            ("exception", "log", False),
            ("api_error", "api_error", True),
            ("health", "health", True),
            ("health", "log", False),
            ("heartbeat", "heartbeat", True),
            ("alert", "webhook", True),
            ("alert", "log", False),
            ("manual", "manual", False),
            ("manual", "log", False),
        ],
    )
    def test_trigger_type_selects_event_kinds(
        self, backend: str, trigger_type: str, kind: str, fires: bool
    ) -> None:
        """A trigger fires only on the event kinds the kind table gives its type."""
        matcher = Matcher([trigger(type=trigger_type, pattern="boom")], backend=backend)
        assert bool(matcher.match(event("boom", kind=kind))) is fires

    def test_kind_table_covers_every_trigger_type(self) -> None:
        """Every trigger type of the playbook format has a row in the one kind table."""
        from typing import get_args

        from grace.playbooks._model import TriggerType

        assert set(TRIGGER_KINDS) == set(get_args(TriggerType))

    def test_patternless_trigger_matches_any_message(self, backend: str) -> None:
        """A trigger without a pattern fires on every event of its kinds."""
        matcher = Matcher([trigger(type="health")], backend=backend)
        assert [m.playbook for m in matcher.match(event("", kind="health"))] == ["pb"]
        assert matcher.match(event("", kind="log")) == []


class TestFilters:
    @pytest.mark.parametrize(
        ("minimum", "severity", "fires"),
        [
            ("error", "critical", True),
            ("error", "error", True),
            ("error", "warning", False),
            ("debug", "debug", True),
            (None, "debug", True),
        ],
    )
    def test_severity_is_a_minimum(
        self, backend: str, minimum: str | None, severity: str, fires: bool
    ) -> None:
        """The trigger's severity is the lowest event severity that fires it."""
        matcher = Matcher([trigger(pattern="x", severity=minimum)], backend=backend)
        assert bool(matcher.match(event("x", severity=severity))) is fires

    def test_service_must_be_equal_when_set(self, backend: str) -> None:
        """A trigger with a service fires only on that service's events."""
        matcher = Matcher([trigger(pattern="locked", service="vectors")], backend=backend)
        assert matcher.match(event("db locked", service="vectors"))
        assert not matcher.match(event("db locked", service="api"))
        assert not matcher.match(event("db locked"))

    def test_metric_trigger_needs_name_and_threshold(self, backend: str) -> None:
        """A metric trigger fires when the named metric's value reaches its threshold."""
        matcher = Matcher(
            [trigger(type="metric", metric="disk_used_pct", threshold=90.0)], backend=backend
        )

        def metric(**attributes: object) -> bool:
            return bool(matcher.match(event("", kind="metric", attributes=attributes)))

        assert metric(metric="disk_used_pct", value=95)
        assert metric(metric="disk_used_pct", value="90")
        assert not metric(metric="disk_used_pct", value=89.9)
        assert not metric(metric="cpu_pct", value=99)
        assert not metric(metric="disk_used_pct", value="n/a")
        assert not metric(metric="disk_used_pct", value=float("nan"))
        assert not metric(metric="disk_used_pct")

    def test_metric_trigger_without_threshold_fires_on_any_value(self, backend: str) -> None:
        """Without a threshold, the metric's name alone decides."""
        matcher = Matcher([trigger(type="metric", metric="restarts")], backend=backend)
        assert matcher.match(event("", kind="metric", attributes={"metric": "restarts"}))

    def test_scheduled_trigger_fires_only_for_its_playbook(self, backend: str) -> None:
        """A scheduled event fires the scheduled trigger of the playbook it names, no other."""
        matcher = Matcher(
            [trigger("nightly", type="scheduled"), trigger("hourly", type="scheduled")],
            backend=backend,
        )
        fired = matcher.match(event("", kind="scheduled", attributes={"playbook": "nightly"}))
        assert [m.playbook for m in fired] == ["nightly"]
        assert matcher.match(event("", kind="scheduled")) == []


class TestCaptures:
    def test_named_groups_become_captures(self, backend: str) -> None:
        """Named groups of the pattern are the match's captures, as strings."""
        matcher = Matcher(
            [trigger(pattern=r"No module named '(?P<module>[\w.]+)'")], backend=backend
        )
        (found,) = matcher.match(event("ModuleNotFoundError: No module named 'faiss.swig'"))
        assert found.captures == {"module": "faiss.swig"}

    def test_groups_that_did_not_participate_are_left_out(self, backend: str) -> None:
        """Only groups that took part in the match are captured."""
        matcher = Matcher(
            [trigger(pattern=r"(?:disk (?P<disk>\w+)|memory (?P<memory>\w+)) full")],
            backend=backend,
        )
        (found,) = matcher.match(event("memory node3 full"))
        assert found.captures == {"memory": "node3"}

    def test_search_semantics_not_fullmatch(self, backend: str) -> None:
        """The pattern is searched anywhere in the message."""
        matcher = Matcher([trigger(pattern="locked")], backend=backend)
        assert matcher.match(event("sqlite3: database is locked (retrying)"))

    def test_anchors_are_line_anchors(self, backend: str) -> None:
        """``^`` and ``$`` match at line starts and ends, also inside a multi-line message."""
        matcher = Matcher([trigger(pattern=r"^Killed$")], backend=backend)
        assert matcher.match(event("worker output\nKilled\nexit 137"))
        assert not matcher.match(event("worker Killed"))


class TestOrdering:
    def test_priority_then_playbook_then_index(self, backend: str) -> None:
        """Results run high → low priority, then by playbook name, then trigger index."""
        triggers = [
            trigger("zeta", "boom", priority="low"),
            trigger("beta", "boom", index=1),
            trigger("alpha", "boom"),
            trigger("beta", "boo+m", index=0),
            trigger("omega", "boom", priority="high"),
        ]
        matcher = Matcher(triggers, backend=backend)
        fired = [(m.playbook, m.trigger_index) for m in matcher.match(event("boom"))]
        assert fired == [("omega", 0), ("alpha", 0), ("beta", 0), ("beta", 1), ("zeta", 0)]

    def test_match_playbooks_keeps_the_first_match_per_playbook(self, backend: str) -> None:
        """match_playbooks returns one match per playbook: its first in result order."""
        triggers = [
            trigger("restart", r"(?P<what>timeout)", index=1),
            trigger("restart", r"(?P<what>time)", index=0),
            trigger("page", "timeout", priority="low"),
        ]
        matcher = Matcher(triggers, backend=backend)
        fired = matcher.match_playbooks(event("upstream timeout"))
        assert [(m.playbook, m.trigger_index, m.captures) for m in fired] == [
            ("restart", 0, {"what": "time"}),
            ("page", 0, {}),
        ]

    def test_one_match_per_matching_trigger(self, backend: str) -> None:
        """match returns every trigger that fires, including several of one playbook."""
        triggers = [trigger("p", "a", index=0), trigger("p", "b", index=1)]
        assert len(Matcher(triggers, backend=backend).match(event("ab"))) == 2


class TestSignature:
    def test_signature_is_stable_and_masks_numbers(self, backend: str) -> None:
        """The same failure with a different pid gives the same signature (fingerprint masks numbers)."""
        matcher = Matcher([trigger(pattern=r"worker \d+ died")], backend=backend)
        one = matcher.match(event("worker 4121 died"))[0]
        two = matcher.match(event("worker 4122 died"))[0]
        assert one.signature == two.signature
        assert len(one.signature) == 16

    def test_signature_depends_on_playbook_and_captures(self) -> None:
        """Different playbooks or captures give different signatures; capture order does not matter."""
        base = signature("a", "f" * 16, {"x": "1", "y": "2"})
        assert base == signature("a", "f" * 16, {"y": "2", "x": "1"})
        assert base != signature("b", "f" * 16, {"x": "1", "y": "2"})
        assert base != signature("a", "f" * 16, {"x": "1", "y": "3"})

    def test_match_signature_uses_event_fingerprint(self) -> None:
        """A match's signature is signature(playbook, event.fingerprint(), captures)."""
        matcher = Matcher([trigger(pattern=r"mod (?P<m>\w+)")], backend="re")
        evt = event("mod faiss")
        (found,) = matcher.match(evt)
        assert found.signature == signature("pb", evt.fingerprint(), {"m": "faiss"})


class TestTriggerValues:
    def test_unknown_type_severity_or_priority_is_refused(self) -> None:
        """A Trigger checks its type, severity and priority when built."""
        with pytest.raises(ValueError, match="unknown type 'logs'"):
            Trigger("p", 0, "logs", None, None, None)
        with pytest.raises(ValueError, match="unknown severity 'fatal'"):
            Trigger("p", 0, "log_message", None, "fatal", None)
        with pytest.raises(ValueError, match="unknown priority 'urgent'"):
            Trigger("p", 0, "log_message", None, None, None, priority="urgent")

    def test_match_on_empty_matcher(self, backend: str) -> None:
        """A matcher without triggers matches nothing and scans nothing."""
        matcher = Matcher([], backend=backend)
        assert matcher.match(event("anything")) == []
        assert matcher.scan(b"anything\n") == []
