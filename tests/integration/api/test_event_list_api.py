"""``GET /api/events``: the events received, newest first, paged and filtered (both databases)."""

from __future__ import annotations

import httpx
import pytest

from grace.engine import Engine
from grace.testing import FakeClock

pytestmark = pytest.mark.anyio


async def _post(client: httpx.AsyncClient, clock: FakeClock, **event: object) -> str:
    clock.advance(1)
    reply = await client.post("/api/events", json={"severity": "error", **event})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["events"][0]["id"])


async def test_newest_first_with_filters_and_pages(
    api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
) -> None:
    a = await _post(api_client, clock, kind="log", service="api", message="worker stuck 12")
    b = await _post(api_client, clock, kind="health", service="db", message="probe failed")
    c = await _post(api_client, clock, kind="log", service="api", message="worker stuck 13")
    page = (await api_client.get("/api/events")).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [e["id"] for e in page["items"]] == [c, b, a]
    first = page["items"][2]
    assert (first["kind"], first["service"], first["message"]) == ("log", "api", "worker stuck 12")
    # Numbers are masked: the two "worker stuck" events are the same failure.
    assert page["items"][0]["fingerprint"] == first["fingerprint"]
    assert page["items"][1]["fingerprint"] != first["fingerprint"]

    api = (await api_client.get("/api/events", params={"service": "api", "limit": 1})).json()
    assert (api["total"], [e["id"] for e in api["items"]]) == (2, [c])
    second = await api_client.get("/api/events", params={"service": "api", "offset": 1})
    assert [e["id"] for e in second.json()["items"]] == [a]
    health = (await api_client.get("/api/events", params={"kind": "health"})).json()
    assert [e["id"] for e in health["items"]] == [b]


async def test_a_bad_filter_is_a_422(api_client: httpx.AsyncClient) -> None:
    bad = await api_client.get("/api/events", params={"kind": "gossip"})
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("query.kind")
    assert (await api_client.get("/api/events", params={"limit": 0})).status_code == 422


async def test_a_nul_in_the_url_is_a_422_not_a_database_error(
    api_client: httpx.AsyncClient,
) -> None:
    """PostgreSQL refuses a NUL in any query parameter (schemathesis found the 500 through
    ``GET /api/agent/runs?playbook=%00…``): the app answers 422 before any route runs."""
    for url in (
        "/api/agent/runs?playbook=%00x",
        "/api/events?service=a%00",
        "/api/agent/runs/run%00x/timeline",
    ):
        reply = await api_client.get(url)
        assert reply.status_code == 422, url
        assert reply.json()["error"] == "the URL holds a NUL character (%00)"
    assert (await api_client.get("/api/agent/runs?playbook=x")).status_code == 200


async def test_a_nul_in_a_body_is_a_422_except_for_events(api_client: httpx.AsyncClient) -> None:
    """Bodies other than events refuse text no database takes; an event keeps U+FFFD."""
    refused = await api_client.post(
        "/api/silences",
        json={"matchers": ["service=api"], "author": "al\u0000ice", "comment": "x"},
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "body.author: text holds a NUL character or a lone surrogate"
    kept = await api_client.post("/api/events", json={"kind": "log", "message": "a\u0000b"})
    assert kept.status_code == 202
    listed = (await api_client.get("/api/events")).json()["items"]
    assert listed[0]["message"] == "a\ufffdb"
