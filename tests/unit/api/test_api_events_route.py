"""``POST /api/events`` is served by the lean :class:`IntakeRoute`: same bytes, same OpenAPI,
same error handling as a plain FastAPI route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI, status

from grace.api.routes.events import IntakeRoute
from grace.api.schemas import EventResult, EventsReply
from grace.errors import StoreError

if TYPE_CHECKING:
    from conftest import ClientFactory, FakeIngest

pytestmark = pytest.mark.anyio


async def test_the_reply_is_byte_for_byte_what_a_plain_route_sends(
    client: httpx.AsyncClient, ingest: FakeIngest
) -> None:
    """Status, content type and body equal those of a FastAPI route with ``response_model``."""
    sent = [{"id": "e1", "kind": "log", "message": "ü"}, {"id": "e1", "kind": "log"}]
    response = await client.post("/api/events", json=sent)
    assert response.status_code == 202
    reply = EventsReply(
        accepted=1,
        duplicates=1,
        events=[
            EventResult(id="e1", accepted=True),
            EventResult(id="e1", accepted=False, reason="duplicate"),
        ],
    )
    plain = FastAPI()

    @plain.post("/", status_code=status.HTTP_202_ACCEPTED, response_model=EventsReply)
    async def route() -> EventsReply:
        return reply

    transport = httpx.ASGITransport(app=plain)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as other:
        expected = await other.post("/")
    assert response.content == expected.content
    assert response.headers["content-type"] == expected.headers["content-type"]
    assert response.headers["content-length"] == expected.headers["content-length"]
    assert ingest.calls == ["submit:e1", "submit:e1"]


async def test_the_openapi_operation_is_documented_from_the_declaration(
    client: httpx.AsyncClient,
) -> None:
    """No parameters; the documented body; 202 with EventsReply; 400/413/422 with ErrorReply."""
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/events"]["post"]
    assert operation["operationId"] == "post_events_api_events_post"
    assert "parameters" not in operation
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["description"].startswith("An event, the SDK's envelope")
    shapes = body["content"]["application/json"]["schema"]["anyOf"]
    assert [shape.get("type") for shape in shapes] == ["object", "object", "array"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventsReply"
    }
    for code in ("400", "413", "422"):
        schema = operation["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorReply"}
    assert operation["summary"] == "Submit events"
    assert operation["description"].startswith("Validate every event, then submit each")


async def test_ingest_failures_reach_the_error_handlers(
    make_client: ClientFactory, ingest: FakeIngest
) -> None:
    """A store outage is a 503 and a bug a 500, both as ``{"error", "hint"}`` JSON."""
    ingest.fail_with = StoreError("database is locked")
    async with make_client(raise_app_exceptions=False) as client:
        outage = await client.post("/api/events", json={"kind": "log", "message": "x"})
        assert outage.status_code == 503
        assert outage.json()["error"].startswith("the store is unavailable")
        ingest.fail_with = RuntimeError("bug")
        crash = await client.post("/api/events", json={"kind": "log", "message": "x"})
        assert crash.status_code == 500
        assert crash.json() == {
            "error": "internal error",
            "hint": "the server log has the details",
        }


def test_the_route_class_is_the_lean_one() -> None:
    """The events router serves its route with :class:`IntakeRoute` (no dependency solving)."""
    from grace.api.routes.events import router

    [route] = router.routes
    assert isinstance(route, IntakeRoute)
    assert route.dependant.dependencies == []


BODIES: list[tuple[str, bytes]] = [
    ("one event", b'{"id": "e1", "kind": "log", "message": "x"}'),
    ("a batch", b'[{"id": "a", "kind": "log"}, {"id": "a", "kind": "log"}]'),
    ("an envelope", b'{"event": {"id": "e2", "kind": "log"}, "event_key": "k1"}'),
    ("malformed JSON", b'{"kind": '),
    ("an empty body", b""),
    ("not UTF-8", b'{"message": "\xff"}'),
    ("a bad kind", b'{"kind": "nope"}'),
    ("a bad batch", b'[{"kind": "log"}, {"kind": 3}, {"severity": "x"}]'),
    ("an empty list", b"[]"),
    ("too large", b'{"message": "' + b"x" * 2048 + b'"}'),
]


@pytest.mark.parametrize(("what", "body"), BODIES, ids=[b[0] for b in BODIES])
async def test_the_fast_path_answers_as_the_route_does(
    what: str, body: bytes, ingest: FakeIngest
) -> None:
    """Served by :class:`EventsIntake` or by the route behind the router: the same status,
    headers and bytes, including every error (the body limit here is 1 KiB)."""
    from grace.api import create_app
    from grace.api.routes.events import EventsIntake

    replies = []
    for fast in (True, False):
        app = create_app(type(ingest)(), auth=False, max_body_bytes=1024)
        if not fast:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not EventsIntake]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            replies.append(
                await c.post(
                    "/api/events", content=body, headers={"content-type": "application/json"}
                )
            )
    fast_reply, routed = replies
    assert (fast_reply.status_code, fast_reply.content) == (routed.status_code, routed.content), (
        what
    )
    assert fast_reply.headers == routed.headers


async def test_other_methods_and_paths_still_reach_the_router(
    client: httpx.AsyncClient, ingest: FakeIngest
) -> None:
    """Only ``POST /api/events`` is answered early: a GET reaches the list route (which
    answers 503 here: this app has no engine), a PUT the router's 405, a trailing slash the
    router's redirect; none of them is submitted."""
    listed = await client.get("/api/events")
    assert listed.status_code == 503
    assert "engine" in listed.json()["error"]
    assert (await client.put("/api/events", json={})).status_code == 405
    slash = await client.post("/api/events/", json={"kind": "log"})
    assert slash.status_code == 307
    assert ingest.calls == []
