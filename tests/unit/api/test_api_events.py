"""``POST /api/events``: every body shape, batches, precise validation errors, the size limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import ClientFactory, FakeIngest

pytestmark = pytest.mark.anyio


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "hint", "details"}, body
    return body


class TestShapes:
    async def test_a_bare_event_is_accepted_with_defaults(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """A bare event gets an id, the current time and source ``api``; the reply is 202."""
        response = await client.post("/api/events", json={"kind": "log", "message": "disk full"})
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 1
        assert body["duplicates"] == 0
        [(event, key)] = ingest.events
        assert body["events"] == [{"id": event.id, "accepted": True, "reason": ""}]
        assert event.id.startswith("evt_")
        assert event.source == "api"
        assert event.kind == "log"
        assert event.message == "disk full"
        assert event.time.tzinfo is not None
        assert key is None

    async def test_every_event_field_is_kept(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """Given id, time, source, service, severity and attributes are used as sent."""
        sent = {
            "id": "evt_given",
            "time": "2024-05-01T10:00:00Z",
            "source": "sdk:billing",
            "kind": "exception",
            "service": "billing",
            "severity": "critical",
            "message": "ModuleNotFoundError: No module named 'stripe'",
            "attributes": {"type": "ModuleNotFoundError"},
        }
        response = await client.post("/api/events", json=sent)
        assert response.status_code == 202
        [(event, _)] = ingest.events
        assert event.to_dict() == {**sent, "time": "2024-05-01T10:00:00+00:00"}

    async def test_the_sdk_envelope_carries_the_event_key(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """``{"event": …, "event_key": …}`` submits the event under that key."""
        response = await client.post(
            "/api/events",
            json={"event": {"kind": "exception", "message": "boom"}, "event_key": "spool:17"},
        )
        assert response.status_code == 202
        [(event, key)] = ingest.events
        assert (event.message, key) == ("boom", "spool:17")

    async def test_an_envelope_without_key_is_keyed_by_the_event_id(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """``event_key`` may be omitted or null."""
        response = await client.post(
            "/api/events", json={"event": {"kind": "log"}, "event_key": None}
        )
        assert response.status_code == 202
        assert ingest.events[0][1] is None

    async def test_a_batch_mixes_events_and_envelopes(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """A list of either shape is submitted in order, one result per item."""
        batch = [
            {"kind": "log", "message": "one"},
            {"event": {"kind": "log", "message": "two"}, "event_key": "k2"},
            {"kind": "metric", "message": "three"},
        ]
        response = await client.post("/api/events", json=batch)
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 3
        assert [e["accepted"] for e in body["events"]] == [True, True, True]
        assert [(e.message, k) for e, k in ingest.events] == [
            ("one", None),
            ("two", "k2"),
            ("three", None),
        ]

    async def test_a_batch_of_exactly_1000_is_accepted(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """The batch limit is inclusive."""
        batch = [{"kind": "log", "message": f"line {i}"} for i in range(1000)]
        response = await client.post("/api/events", json=batch)
        assert response.status_code == 202
        assert response.json()["accepted"] == 1000
        assert len(ingest.events) == 1000


class TestIdempotency:
    async def test_a_resend_with_the_same_key_is_a_duplicate(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """The second envelope with the same key is reported as a duplicate, not accepted."""
        envelope = {"event": {"kind": "exception", "message": "boom"}, "event_key": "k1"}
        first = await client.post("/api/events", json=envelope)
        second = await client.post("/api/events", json=envelope)
        assert first.json()["accepted"] == 1
        assert second.status_code == 202
        assert second.json()["accepted"] == 0
        assert second.json()["duplicates"] == 1
        assert second.json()["events"][0]["reason"] == "duplicate"
        assert len(ingest.events) == 1

    async def test_duplicates_inside_one_batch_are_counted(self, client: httpx.AsyncClient) -> None:
        """Two items with the same key in one batch: one accepted, one duplicate."""
        item = {"event": {"kind": "log"}, "event_key": "same"}
        response = await client.post("/api/events", json=[item, item])
        assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 1)

    async def test_other_refusals_keep_their_reason(
        self, client: httpx.AsyncClient, ingest: FakeIngest, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A refusal that is not a duplicate (e.g. shutting down) is reported but not counted."""
        from grace.ingest import Submitted

        async def refuse(event: Any, *, event_key: str | None = None) -> Submitted:
            return Submitted(False, event.id, "shutting down")

        monkeypatch.setattr(ingest, "submit", refuse)
        response = await client.post("/api/events", json={"kind": "log"})
        body = response.json()
        assert (body["accepted"], body["duplicates"]) == (0, 0)
        assert body["events"][0]["reason"] == "shutting down"


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (
                {"kind": "oops"},
                "body: kind 'oops' is not one of exception, log, api_error, health, "
                "heartbeat, metric, scheduled, manual, webhook",
            ),
            (
                {"kind": "log", "severity": "loud"},
                "body: severity 'loud' is not one of debug, info, warning, error, critical",
            ),
            ({"kind": "log", "time": "yesterday"}, "body: time 'yesterday' is not ISO-8601"),
            ({"kind": "log", "colour": "red"}, "body: unknown event field(s) colour"),
            ({"kind": "log", "attributes": [1]}, "body: attributes must be an object"),
            ({"kind": "log", "service": 7}, "body.service: must be a string, got int 7"),
            ("just text", "body: an event must be a JSON object, got str"),
            (
                {"event": {"kind": "log"}, "key": "k"},
                "body: unknown envelope field(s) key",
            ),
            (
                {"event": {"kind": "log"}, "event_key": ""},
                "body.event_key: must be a non-empty string or null, got ''",
            ),
            (
                {"event": {"kind": "nope"}, "event_key": "k"},
                "body.event: kind 'nope' is not one of exception, log, api_error, health, "
                "heartbeat, metric, scheduled, manual, webhook",
            ),
            (
                {"event": {"kind": "log"}, "event_key": "k" * 201},
                "body.event_key: 201 characters long, at most 200 allowed",
            ),
            ({"kind": "log", "id": "x" * 65}, "body.id: 65 characters long, at most 64 allowed"),
            ([], "body: the list holds no events"),
        ],
    )
    async def test_bad_input_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient, ingest: FakeIngest, body: Any, error: str
    ) -> None:
        """Each fault is a 422 whose message names the offending field; nothing is submitted."""
        response = await client.post("/api/events", json=body)
        assert response.status_code == 422
        assert _error(response)["error"] == error
        assert ingest.events == []

    async def test_a_bad_item_rejects_the_whole_batch_and_lists_every_fault(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """Faults are reported by index; the first is the error, the rest are details."""
        batch = [{"kind": "log"}, {"kind": "bad"}, {"kind": "log"}, {"severity": "x"}]
        response = await client.post("/api/events", json=batch)
        assert response.status_code == 422
        body = _error(response)
        assert body["error"].startswith("body[1]: kind 'bad' is not one of")
        assert body["details"] == [
            "body[3]: severity 'x' is not one of debug, info, warning, error, critical"
        ]
        assert ingest.events == []

    async def test_an_unknown_field_comes_with_a_hint(self, client: httpx.AsyncClient) -> None:
        """The hint lists the event fields and says where extra data goes."""
        response = await client.post("/api/events", json={"kind": "log", "host": "db1"})
        assert "put anything else under 'attributes'" in _error(response)["hint"]

    async def test_more_than_1000_events_is_refused(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """A batch over the limit is a 422 that says how to split it."""
        batch = [{"kind": "log"} for _ in range(1001)]
        response = await client.post("/api/events", json=batch)
        assert response.status_code == 422
        body = _error(response)
        assert body["error"] == "body: 1001 events in one request, at most 1000 allowed"
        assert body["hint"] == "split them into batches of 1000"
        assert ingest.events == []

    async def test_many_faults_are_capped_in_details(self, client: httpx.AsyncClient) -> None:
        """Details list at most 20 faults and say how many more there were."""
        response = await client.post("/api/events", json=[{"kind": "x"}] * 30)
        details = _error(response)["details"]
        assert len(details) == 21
        assert details[-1] == "… and 9 more"

    async def test_malformed_json_is_a_400_with_the_position(
        self, client: httpx.AsyncClient
    ) -> None:
        """Broken JSON is a 400 naming line and column."""
        response = await client.post(
            "/api/events", content=b'{"kind": "log",}', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert _error(response)["error"].startswith("the request body is not valid JSON:")
        assert "line 1 column 16" in _error(response)["error"]

    async def test_an_empty_body_is_a_400(self, client: httpx.AsyncClient) -> None:
        """No body at all is a 400 that says what to send."""
        response = await client.post("/api/events")
        assert response.status_code == 400
        assert _error(response)["error"] == "the request body is empty"

    async def test_a_body_that_is_not_utf8_is_a_400(self, client: httpx.AsyncClient) -> None:
        """Bytes that are not UTF-8 are refused with the reason, not a 500."""
        response = await client.post("/api/events", content=b'{"message": "\xff"}')
        assert response.status_code == 400
        assert _error(response)["error"].startswith("the request body is not UTF-8")


class TestSizeLimit:
    async def test_a_declared_length_over_the_limit_is_a_413(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """Over 1 MiB (by Content-Length) is refused before reading, with a JSON message."""
        big = json.dumps({"kind": "log", "message": "x" * (1024 * 1024)}).encode()
        response = await client.post("/api/events", content=big)
        assert response.status_code == 413
        body = _error(response)
        assert body["error"] == "request body is larger than the limit of 1 MiB"
        assert "at most 1000" in body["hint"]
        assert ingest.events == []

    async def test_a_streamed_body_over_the_limit_is_a_413(
        self, make_client: ClientFactory, ingest: FakeIngest
    ) -> None:
        """A chunked body (no Content-Length) is counted as it arrives and cut at the limit."""

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"kind": "log", "message": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        async with make_client(max_body_bytes=4096) as small:
            response = await small.post("/api/events", content=chunks())
        assert response.status_code == 413
        assert _error(response)["error"] == "request body is larger than the limit of 4 KiB"
        assert ingest.events == []

    async def test_a_body_at_the_limit_is_read(
        self, make_client: ClientFactory, ingest: FakeIngest
    ) -> None:
        """The limit is inclusive: a body of exactly ``max_body_bytes`` is accepted."""
        body = json.dumps({"kind": "log", "message": ""}).encode()
        body = body[:-1] + b" " * (1000 - len(body)) + b"}"
        assert len(body) == 1000
        async with make_client(max_body_bytes=1000) as small:
            response = await small.post("/api/events", content=body)
        assert response.status_code == 202
        assert len(ingest.events) == 1
