"""Alertmanager v4 payloads to signals: firing → event + episode, resolved → episode only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from grace.errors import ConfigError
from grace.sources.builtin.webhook import AlertSignal, alert_fingerprint, alertmanager_signals

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"


def load(name: str) -> dict[str, Any]:
    """A payload from ``tests/fixtures/alertmanager``."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def one_alert(**changes: Any) -> dict[str, Any]:
    """The documented example with its single alert changed."""
    body = load("prometheus_docs_firing.json")
    body["alerts"][0].update(changes)
    return body


class TestCapturedPayloads:
    def test_firing_is_one_event_and_an_episode(self) -> None:
        """The real firing capture: one firing signal carrying its event and key."""
        [signal] = alertmanager_signals(load("alertmanager_firing.json"))
        assert signal.status == "firing"
        assert signal.episode_key == "alertmanager:f48f841dae62fe01"
        assert signal.service == "vectors"
        assert signal.event_key == "f48f841dae62fe01:2026-11-21T23:31:40.023Z"
        assert signal.event is not None
        assert signal.event.attributes["episode"] == "alertmanager:f48f841dae62fe01"

    def test_resolved_carries_no_event(self) -> None:
        """The real resolved capture: a resolved signal with no event (it triggers nothing)."""
        assert alertmanager_signals(load("alertmanager_resolved.json")) == [
            AlertSignal(None, "alertmanager:f48f841dae62fe01", "resolved", "vectors")
        ]

    def test_the_decision_is_status_not_ends_at(self) -> None:
        """A firing alert with the zero ``endsAt`` is firing; a resolved one with none is resolved."""
        firing = load("alertmanager_firing.json")
        assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        assert alertmanager_signals(firing)[0].status == "firing"
        resolved = load("alertmanager_resolved.json")
        resolved["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
        assert alertmanager_signals(resolved)[0].event is None


class TestFingerprint:
    def test_it_reproduces_alertmanagers_fingerprint(self) -> None:
        """FNV-1a over the sorted labels gives the fingerprint the real Alertmanager sent."""
        labels = load("alertmanager_firing.json")["alerts"][0]["labels"]
        assert alert_fingerprint(labels) == "f48f841dae62fe01"
        assert alert_fingerprint({}) == "cbf29ce484222325"

    def test_a_missing_fingerprint_is_computed(self) -> None:
        """An alert without ``fingerprint`` gets the one Alertmanager would have sent."""
        body = load("alertmanager_firing.json")
        del body["alerts"][0]["fingerprint"]
        [signal] = alertmanager_signals(body)
        assert signal.episode_key == "alertmanager:f48f841dae62fe01"


class TestMapping:
    @pytest.mark.parametrize(
        ("labels", "service"),
        [
            ({"service": "api", "job": "node", "app": "web"}, "api"),
            ({"job": "node", "app": "web"}, "node"),
            ({"app": "web"}, "web"),
            ({"service": "", "job": "node"}, "node"),
            ({"instance": "h:1"}, ""),
        ],
    )
    def test_service_label_order(self, labels: dict[str, str], service: str) -> None:
        """The service is the first non-empty of the ``service``, ``job`` and ``app`` labels."""
        [signal] = alertmanager_signals(one_alert(labels={"alertname": "X", **labels}))
        assert signal.service == service
        assert signal.event is not None
        assert signal.event.service == service

    @pytest.mark.parametrize(
        ("severity", "expected"),
        [
            ("critical", "critical"),
            ("page", "critical"),
            ("error", "error"),
            ("warning", "warning"),
            ("info", "info"),
            ("Warning", "warning"),
            (None, "error"),
            ("whatever", "error"),
        ],
    )
    def test_severity_label(self, severity: str | None, expected: str) -> None:
        """The ``severity`` label maps to Grace's severities (page → critical; default error)."""
        labels = (
            {"alertname": "X"} if severity is None else {"alertname": "X", "severity": severity}
        )
        [signal] = alertmanager_signals(one_alert(labels=labels))
        assert signal.event is not None
        assert signal.event.severity == expected

    @pytest.mark.parametrize(
        ("labels", "annotations", "message"),
        [
            ({"alertname": "A"}, {"summary": "S", "description": "D"}, "A: S"),
            ({"alertname": "A"}, {"description": "D"}, "A: D"),
            ({"alertname": "A"}, {}, "A"),
            ({}, {"summary": "S"}, "alert: S"),
        ],
    )
    def test_message(
        self, labels: dict[str, str], annotations: dict[str, str], message: str
    ) -> None:
        """``<alertname>: <summary or description>``."""
        [signal] = alertmanager_signals(one_alert(labels=labels, annotations=annotations))
        assert signal.event is not None
        assert signal.event.message == message

    def test_starts_at_is_read_with_nanoseconds(self) -> None:
        """Go's nine fractional digits are read (to the microsecond); the key keeps the raw text.
        The event itself is timed at the notification: a re-sent long-firing alert is not stale."""
        [signal] = alertmanager_signals(one_alert(startsAt="2024-05-01T12:00:00.999999999+02:00"))
        assert signal.event is not None
        assert signal.event.attributes["startsAt"] == "2024-05-01T10:00:00.999999+00:00"
        assert signal.event.time.year >= 2026
        assert signal.event_key.endswith(":2024-05-01T12:00:00.999999999+02:00")

    def test_an_alert_without_status_takes_the_payloads(self) -> None:
        """``status`` is per alert; an alert without one follows the group's."""
        body = load("prometheus_docs_resolved.json")
        del body["alerts"][0]["status"]
        [signal] = alertmanager_signals(body)
        assert signal.status == "resolved"
        assert signal.event is None

    def test_unknown_fields_are_tolerated(self) -> None:
        """Fields added by newer Alertmanagers (e.g. ``notification_reason``) are ignored."""
        body = load("prometheus_docs_firing.json")
        body["notification_reason"] = "new_alert"
        body["alerts"][0]["silenceURL"] = "http://am/silence"
        assert len(alertmanager_signals(body)) == 1

    def test_every_alert_is_a_signal_in_order(self) -> None:
        """A group of three alerts gives three signals, in payload order."""
        body = load("prometheus_docs_firing.json")
        template = body["alerts"][0]
        body["alerts"] = []
        for n, status in enumerate(["firing", "resolved", "firing"]):
            alert = copy.deepcopy(template)
            alert.update(status=status, fingerprint=f"{n:016x}")
            body["alerts"].append(alert)
        signals = alertmanager_signals(body)
        assert [(s.status, s.episode_key) for s in signals] == [
            ("firing", "alertmanager:0000000000000000"),
            ("resolved", "alertmanager:0000000000000001"),
            ("firing", "alertmanager:0000000000000002"),
        ]


class TestErrors:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("text", "an Alertmanager payload is a JSON object, got str"),
            ({"version": "5"}, "Alertmanager payload version '5' is not supported: expected '4'"),
            (
                {"version": "4", "alerts": []},
                "Alertmanager payload: status: Field required",
            ),
            (
                {"version": "4", "status": "firing", "alerts": [{"status": "gone"}]},
                "Alertmanager payload: alerts[0].status: Input should be 'firing' or 'resolved'",
            ),
            (
                {"version": "4", "status": "firing", "alerts": [{"annotations": []}]},
                "Alertmanager payload: alerts[0].annotations: Input should be a valid dictionary",
            ),
        ],
    )
    def test_faults_name_the_field(self, body: Any, message: str) -> None:
        """Every refusal is a ConfigError naming the field."""
        with pytest.raises(ConfigError) as caught:
            alertmanager_signals(body)
        assert str(caught.value) == message

    def test_a_bad_starts_at_names_the_alert(self) -> None:
        """An unparseable ``startsAt`` of a firing alert is refused with its index."""
        with pytest.raises(ConfigError, match=r"alerts\[0\]\.startsAt 'soon' is not an RFC 3339"):
            alertmanager_signals(one_alert(startsAt="soon"))

    def test_a_resolved_alert_needs_no_parseable_time(self) -> None:
        """Only firing alerts become events, so only their times are read."""
        body = load("prometheus_docs_resolved.json")
        body["alerts"][0]["startsAt"] = "garbage"
        assert alertmanager_signals(body)[0].status == "resolved"
