"""``POST /api/webhooks/alertmanager`` and ``POST /api/webhooks/{name}`` (generic JSON)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import FakeIngest

pytestmark = pytest.mark.anyio

Payload = Callable[[str], dict[str, Any]]
AM = "/api/webhooks/alertmanager"


class TestAlertmanagerCapturedPayloads:
    async def test_firing_opens_the_episode_and_submits_one_event(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """The captured firing payload: episode opened first, then exactly one event."""
        response = await client.post(AM, json=payload("alertmanager_firing.json"))
        assert response.status_code == 200
        assert response.json() == {"firing": 1, "resolved": 0, "duplicates": 0}
        assert ingest.episodes == {"alertmanager:f48f841dae62fe01": "firing"}
        assert ingest.episode_services == {"alertmanager:f48f841dae62fe01": "vectors"}
        [(event, key)] = ingest.events
        assert ingest.calls == ["open:alertmanager:f48f841dae62fe01", f"submit:{event.id}"]
        assert key == "f48f841dae62fe01:2026-11-21T23:31:40.023Z"
        assert event.source == "webhook:alertmanager"
        assert event.kind == "webhook"
        assert event.service == "vectors"
        assert event.severity == "critical"
        assert event.message == "HighErrorRate: Error rate above 5% on vectors"
        assert event.attributes["startsAt"] == "2026-11-21T23:31:40.023000+00:00"
        assert event.attributes["labels"]["alertname"] == "HighErrorRate"
        assert event.attributes["annotations"]["summary"] == "Error rate above 5% on vectors"
        assert event.attributes["fingerprint"] == "f48f841dae62fe01"
        # The event is the notification (not stale when re-sent); startsAt keeps the alert's age.
        assert event.time.isoformat() != event.attributes["startsAt"]
        assert event.attributes["generatorURL"].startswith("http://127.0.0.1:9090/graph")
        assert event.attributes["status"] == "firing"
        assert event.attributes["receiver"] == "grace"
        assert event.attributes["groupKey"] == '{}:{alertname="HighErrorRate", service="vectors"}'

    async def test_resolved_closes_the_episode_and_submits_nothing(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """The captured resolved payload: the episode is resolved and no event exists."""
        await client.post(AM, json=payload("alertmanager_firing.json"))
        response = await client.post(AM, json=payload("alertmanager_resolved.json"))
        assert response.status_code == 200
        assert response.json() == {"firing": 0, "resolved": 1, "duplicates": 0}
        assert ingest.episodes == {"alertmanager:f48f841dae62fe01": "resolved"}
        assert len(ingest.events) == 1  # only the firing one
        assert ingest.calls[-1] == "resolve:alertmanager:f48f841dae62fe01"

    async def test_resolved_alone_triggers_nothing(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """A resolved payload never seen firing still submits no event."""
        response = await client.post(AM, json=payload("alertmanager_resolved.json"))
        assert response.status_code == 200
        assert ingest.events == []
        assert ingest.calls == ["resolve:alertmanager:f48f841dae62fe01"]

    async def test_a_resend_is_a_duplicate(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """Alertmanager repeats a firing group every group_interval: the repeat is a duplicate."""
        first = await client.post(AM, json=payload("alertmanager_firing.json"))
        again = await client.post(AM, json=payload("alertmanager_firing.json"))
        assert first.json()["duplicates"] == 0
        assert again.json() == {"firing": 1, "resolved": 0, "duplicates": 1}
        assert len(ingest.events) == 1

    async def test_a_new_firing_of_the_same_alert_is_a_new_event(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """Fired, resolved, fired again (new startsAt): the second firing is its own event."""
        await client.post(AM, json=payload("alertmanager_firing.json"))
        await client.post(AM, json=payload("alertmanager_resolved.json"))
        refire = payload("alertmanager_firing.json")
        refire["alerts"][0]["startsAt"] = "2026-11-22T01:00:00Z"
        response = await client.post(AM, json=refire)
        assert response.json()["duplicates"] == 0
        assert len(ingest.events) == 2
        assert ingest.episodes["alertmanager:f48f841dae62fe01"] == "firing"


class TestAlertmanagerDocumentedExample:
    async def test_the_prometheus_docs_example_is_accepted(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """The documented format, filled in with the docs' InstanceDown alert, is one event."""
        response = await client.post(AM, json=payload("prometheus_docs_firing.json"))
        assert response.status_code == 200
        assert response.json() == {"firing": 1, "resolved": 0, "duplicates": 0}
        [(event, key)] = ingest.events
        assert event.service == "node"  # no service label: the job
        assert event.severity == "critical"  # severity: page
        assert event.message == "InstanceDown: Instance localhost:9100 down"
        assert event.attributes["startsAt"] == "2024-05-01T10:00:00.123456+00:00"
        assert key == "73146c87f74afe0a:2024-05-01T10:00:00.123456789Z"
        assert ingest.episodes == {"alertmanager:73146c87f74afe0a": "firing"}

    async def test_its_resolved_twin_triggers_nothing(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """The resolved twin closes the episode and submits no event."""
        await client.post(AM, json=payload("prometheus_docs_firing.json"))
        response = await client.post(AM, json=payload("prometheus_docs_resolved.json"))
        assert response.json() == {"firing": 0, "resolved": 1, "duplicates": 0}
        assert len(ingest.events) == 1
        assert ingest.episodes == {"alertmanager:73146c87f74afe0a": "resolved"}


class TestAlertmanagerGroups:
    async def test_a_group_is_decided_alert_by_alert(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """One payload with a firing and a resolved alert: one event, one episode closed."""
        body = payload("prometheus_docs_firing.json")
        resolved = copy.deepcopy(body["alerts"][0])
        resolved.update(status="resolved", fingerprint="0000000000000001")
        body["alerts"].append(resolved)
        response = await client.post(AM, json=body)
        assert response.json() == {"firing": 1, "resolved": 1, "duplicates": 0}
        assert len(ingest.events) == 1
        assert ingest.episodes["alertmanager:0000000000000001"] == "resolved"

    async def test_an_empty_alert_list_does_nothing(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """``alerts: []`` is valid and changes nothing."""
        body = payload("prometheus_docs_firing.json")
        body["alerts"] = []
        response = await client.post(AM, json=body)
        assert response.json() == {"firing": 0, "resolved": 0, "duplicates": 0}
        assert ingest.calls == []


class TestAlertmanagerErrors:
    @pytest.mark.parametrize(
        ("change", "error"),
        [
            (
                {"version": "3"},
                "Alertmanager payload version '3' is not supported: expected '4'",
            ),
            (
                {"version": 4},
                "Alertmanager payload version 4 is not supported: expected '4'",
            ),
            (
                {"status": "pending"},
                "Alertmanager payload: status: Input should be 'firing' or 'resolved'",
            ),
            ({"alerts": "none"}, "Alertmanager payload: alerts: Input should be a valid list"),
        ],
    )
    async def test_a_malformed_payload_is_a_422_naming_the_field(
        self,
        client: httpx.AsyncClient,
        ingest: FakeIngest,
        payload: Payload,
        change: dict[str, Any],
        error: str,
    ) -> None:
        """Wrong version, status or alerts: 422 with the field; nothing happens."""
        body = {**payload("alertmanager_firing.json"), **change}
        response = await client.post(AM, json=body)
        assert response.status_code == 422
        assert response.json()["error"] == error
        assert ingest.calls == []

    async def test_a_missing_version_is_refused(
        self, client: httpx.AsyncClient, payload: Payload
    ) -> None:
        """A payload without ``version`` is not assumed to be v4."""
        body = payload("alertmanager_firing.json")
        del body["version"]
        response = await client.post(AM, json=body)
        assert response.status_code == 422
        assert response.json()["error"].startswith("Alertmanager payload version None")
        assert response.json()["hint"] == 'Alertmanager 0.x webhook_config sends version "4"'

    async def test_a_bad_alert_field_names_its_index(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """A fault inside an alert is reported as ``alerts[i].field``."""
        body = payload("alertmanager_firing.json")
        body["alerts"][0]["labels"] = {"severity": 5}
        response = await client.post(AM, json=body)
        assert response.status_code == 422
        assert response.json()["error"] == (
            "Alertmanager payload: alerts[0].labels.severity: Input should be a valid string"
        )
        assert ingest.calls == []

    async def test_a_bad_starts_at_is_refused_before_anything_happens(
        self, client: httpx.AsyncClient, ingest: FakeIngest, payload: Payload
    ) -> None:
        """An unparseable startsAt is a 422 and no episode is opened."""
        body = payload("alertmanager_firing.json")
        body["alerts"][0]["startsAt"] = "yesterday"
        response = await client.post(AM, json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "alerts[0].startsAt 'yesterday' is not an RFC 3339 time"
        assert ingest.calls == []

    async def test_a_list_body_is_refused(self, client: httpx.AsyncClient) -> None:
        """The payload must be an object."""
        response = await client.post(AM, json=[])
        assert response.status_code == 422
        assert response.json()["error"] == "an Alertmanager payload is a JSON object, got list"


GRAFANA_BODY: dict[str, Any] = {
    "receiver": "grace",
    "status": "firing",
    "title": "[FIRING:1] HighLatency",
    "message": "p99 above 2s on checkout",
    "groupKey": '{}:{alertname="HighLatency"}',
    "commonLabels": {"alertname": "HighLatency", "service": "checkout", "severity": "P1"},
}


class TestGenericWebhook:
    async def test_a_grafana_style_body_is_mapped(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """Message from a template, service and severity from paths, key and attributes mapped."""
        response = await client.post("/api/webhooks/grafana", json=GRAFANA_BODY)
        assert response.status_code == 202
        assert response.json()["accepted"] == 1
        [(event, key)] = ingest.events
        assert event.source == "webhook:grafana"
        assert event.kind == "webhook"
        assert event.message == "[FIRING:1] HighLatency: p99 above 2s on checkout"
        assert event.service == "checkout"
        assert event.severity == "critical"
        assert key == '{}:{alertname="HighLatency"}'
        assert event.attributes == {"state": "firing", "labels": GRAFANA_BODY["commonLabels"]}

    async def test_a_resend_is_a_duplicate(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """The same mapped key twice: the second is a duplicate."""
        await client.post("/api/webhooks/grafana", json=GRAFANA_BODY)
        again = await client.post("/api/webhooks/grafana", json=GRAFANA_BODY)
        assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
        assert len(ingest.events) == 1

    async def test_defaults_keep_the_whole_body_and_key_by_its_digest(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """An all-default mapping: message is the JSON body, attributes hold it, the key is a digest."""
        body = {"b": 2, "a": [1, "x"]}
        response = await client.post("/api/webhooks/raw", json=body)
        assert response.status_code == 202
        [(event, key)] = ingest.events
        assert event.message == '{"a":[1,"x"],"b":2}'
        assert event.attributes == {"payload": body}
        assert event.severity == "error"
        assert key is not None
        assert key.startswith("sha256:")
        same = await client.post("/api/webhooks/raw", json={"a": [1, "x"], "b": 2})
        assert same.json()["duplicates"] == 1

    async def test_an_unknown_name_is_a_404_listing_the_known_ones(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """404 names every served webhook and how to declare a new one."""
        response = await client.post("/api/webhooks/github", json={})
        assert response.status_code == 404
        body = response.json()
        assert (
            body["error"] == "no webhook named 'github'; known webhooks: alertmanager, grafana, raw"
        )
        assert "type: webhook" in body["hint"]
        assert ingest.calls == []

    async def test_a_name_that_cannot_be_declared_is_a_422(self, client: httpx.AsyncClient) -> None:
        """A path segment outside the name pattern is refused by validation, as JSON."""
        response = await client.post("/api/webhooks/-bad", json={})
        assert response.status_code == 422
        assert response.json()["error"].startswith("path.name: String should match pattern")

    async def test_a_mapped_value_too_long_for_the_store_is_a_422(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """A service of 300 characters is refused, naming the webhook and the field."""
        body = {**GRAFANA_BODY, "commonLabels": {"service": "s" * 300}}
        response = await client.post("/api/webhooks/grafana", json=body)
        assert response.status_code == 422
        assert response.json()["error"] == (
            "webhook 'grafana'.service: 300 characters long, at most 200 allowed"
        )
        assert ingest.calls == []

    async def test_malformed_json_is_a_400(self, client: httpx.AsyncClient) -> None:
        """The generic route parses JSON like every other."""
        response = await client.post("/api/webhooks/raw", content=b"not json")
        assert response.status_code == 400
        assert response.json()["error"].startswith("the request body is not valid JSON")
