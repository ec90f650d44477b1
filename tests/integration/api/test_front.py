"""``grace serve``'s front (:func:`grace.api.serve_app`): ``GET /health``, ``POST /api/events`` and
``GET /metrics`` answered without FastAPI, everything else by the full app built at its first request.

Every reply the front gives itself must be the full app's, byte for byte; every other request
must reach the full app and get what the full app alone would answer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from grace.api import create_app, serve_app
from grace.api._front import Front, health
from grace.config import Settings
from grace.engine import Engine
from grace.errors import ConfigError
from grace.testing import StoreIngest
from grace.tokens import Role

pytestmark = pytest.mark.anyio

EVENT = {"kind": "log", "message": "worker stuck", "service": "api", "id": "evt_front_1"}


def bearer(engine: Engine, role: Role) -> dict[str, str]:
    _, secret = engine.store.create_token(name=f"{role.label}-front", role=role, by="test")
    return {"Authorization": f"Bearer {secret}"}


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://grace.test",
    )


@pytest.fixture
def front(api_engine: Engine) -> Front:
    return serve_app(StoreIngest(api_engine.store), settings=api_engine.settings, engine=api_engine)


@pytest.fixture
def full(api_engine: Engine) -> Any:
    return create_app(
        StoreIngest(api_engine.store), settings=api_engine.settings, engine=api_engine
    )


@pytest.fixture
async def clients(
    front: Front, full: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with client_for(front) as a, client_for(full) as b:
        yield a, b


def same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.headers.raw, a.content) == (b.status_code, b.headers.raw, b.content)


async def test_health_is_answered_without_building_the_api(
    front: Front, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """GET /health gets the full app's exact reply from the front itself; what only the full app answers (a NUL in the query) still comes from it."""
    via_front, via_full = clients
    same(await via_front.get("/health"), await via_full.get("/health"))
    assert not front.loaded
    # What the full app alone answers (HEAD: 405; a NUL in the query: 422) comes from it.
    same(await via_front.get("/health?x=%00"), await via_full.get("/health?x=%00"))
    assert not front.loaded


async def test_events_get_the_full_apps_replies_byte_for_byte(
    api_engine: Engine, front: Front, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """POST /api/events through the front: every refusal (401, 403, 400, 422, 413) is the full app's byte for byte, and events are stored once."""
    via_front, via_full = clients
    operator = bearer(api_engine, Role.OPERATOR)
    viewer = bearer(api_engine, Role.VIEWER)
    cases: list[dict[str, Any]] = [
        {},  # no credentials: 401
        {"headers": viewer},  # a viewer may not submit: 403
        {"headers": {"Authorization": "Basic x"}},  # not a bearer: 401
        {"headers": operator, "content": b"{not json"},  # 400
        {"headers": operator, "json": {"kind": "nope", "message": "x"}},  # 422
        {"headers": operator, "content": b"x" * (1024 * 1024 + 1)},  # 413
        {"headers": operator, "json": [EVENT]},  # 202: the front's is new, the app's a duplicate
        {"headers": operator, "json": [EVENT]},  # 202: both duplicates, the same bytes
    ]
    for case in cases:
        a = await via_front.post("/api/events", **case)
        b = await via_full.post("/api/events", **case)
        if a.status_code == 202 and a.json()["accepted"] == 1:
            assert b.status_code == 202
            assert b.json() == {
                **a.json(),
                "accepted": 0,
                "duplicates": 1,
                "events": b.json()["events"],
            }
            assert b.json()["events"][0]["reason"] == "duplicate"
        else:
            same(a, b)
    assert (
        await via_front.post("/api/events?x=%00", headers=operator, json=EVENT)
    ).status_code == 422
    assert not front.loaded


async def test_every_other_request_gets_what_the_full_app_answers(
    api_engine: Engine,
    front: Front,
    full: Any,
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """Every published GET route, with and without a token, gets the same status through the front as from the full app alone; unknown routes and methods too."""
    via_front, via_full = clients
    viewer = bearer(api_engine, Role.VIEWER)
    paths = sorted(full.openapi()["paths"])
    assert len(paths) >= 30
    for path in paths:
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        if concrete.startswith("/api/events/stream"):
            continue  # a server-sent event stream never ends
        for headers in ({}, viewer):
            a = await via_front.get(concrete, headers=headers)
            b = await via_full.get(concrete, headers=headers)
            assert a.status_code == b.status_code, (path, headers, a.text, b.text)
    assert front.loaded
    same(await via_front.get("/openapi.json"), await via_full.get("/openapi.json"))
    # Unknown routes and methods: the full app's 404 and 405.
    same(await via_front.get("/no/such/route"), await via_full.get("/no/such/route"))
    same(await via_front.put("/health"), await via_full.put("/health"))


async def test_the_front_routes_declare_no_role(full: Any) -> None:
    """The front's gate applies the method's default role (viewer for GET, operator for
    POST); the full app's gate would apply a declared one. None is declared for these two."""
    paths = full.openapi()["paths"]
    assert "x-grace-role" not in paths["/health"]["get"]
    assert "x-grace-role" not in paths["/api/events"]["post"]
    assert "x-grace-role" not in paths["/metrics"]["get"]


async def test_metrics_are_scraped_without_building_the_api(
    api_engine: Engine, front: Front, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """GET /metrics from the front: the full app's content type and metric families, read from the same store, without building the full app."""
    via_front, via_full = clients
    operator = bearer(api_engine, Role.OPERATOR)
    assert (await via_front.post("/api/events", headers=operator, json=EVENT)).status_code == 202
    a = await via_front.get("/metrics")
    b = await via_full.get("/metrics")
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
    assert a.headers["content-length"] == str(len(a.content))

    def families(text: str) -> set[str]:
        return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}

    assert families(a.text) == families(b.text)
    assert len(families(a.text)) > 10
    # The front reads the same store (tests/integration/api/test_metrics.py checks values).
    assert "\ngrace_store_up 1.0\n" in a.text
    assert not front.loaded


async def test_a_misdeclared_webhook_fails_at_start_not_at_the_first_request(
    api_engine: Engine,
) -> None:
    """A webhook the full app would refuse stops serve_app at once (grace serve fails at start)."""
    settings = api_engine.settings.model_copy(
        update={"sources": [{"type": "webhook", "name": "alertmanager", "mapping": {}}]}
    )
    with pytest.raises(ConfigError, match="alertmanager"):
        serve_app(StoreIngest(api_engine.store), settings=settings, engine=api_engine)


async def test_concurrent_first_requests_build_the_app_once() -> None:
    """Five requests arriving before the full app exists wait for one build and are all served."""
    built: list[int] = []

    def build() -> Any:
        import time

        time.sleep(0.2)
        built.append(1)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await health(scope, receive, send)

        return app

    front = Front(own=health, build=build)
    async with client_for(front) as client:
        codes: list[int] = []

        async def get() -> None:
            codes.append((await client.get("/api/playbooks/status")).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(get)
    assert built == [1]
    assert codes == [200] * 5


async def test_a_failed_build_answers_500_and_is_retried() -> None:
    """A build that raises gives a JSON 500 naming the failure; the next request tries again."""
    attempts: list[int] = []

    def build() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("no module named fastapi (a broken install)")
        return health

    front = Front(own=health, build=build)
    async with client_for(front) as client:
        first = await client.get("/api/playbooks/status")
        assert first.status_code == 500
        assert first.json() == {
            "error": "the HTTP API failed to load",
            "hint": "the server log has the details",
        }
        assert (await client.get("/api/playbooks/status")).status_code == 200
    assert len(attempts) == 2


async def test_health_behind_auth_when_it_is_not_an_open_path(api_engine: Engine) -> None:
    """When api.open_paths leaves /health out, the front asks for a token as the full app would."""
    settings = api_engine.settings.model_copy(
        update={"api": api_engine.settings.api.model_copy(update={"open_paths": ("/metrics",)})}
    )
    front = serve_app(StoreIngest(api_engine.store), settings=settings, engine=api_engine)
    async with client_for(front) as client:
        assert (await client.get("/health")).status_code == 401
        viewer = bearer(api_engine, Role.VIEWER)
        assert (await client.get("/health", headers=viewer)).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
    assert not front.loaded


def test_grace_serve_loads_fastapi_only_when_a_route_needs_it(
    tmp_path: Path, database_url: str
) -> None:
    """In a fresh interpreter: the daemon's app takes health checks and events without
    importing FastAPI; the first other request imports it."""
    script = textwrap.dedent(
        f"""
        import json, sys
        import anyio, httpx
        from grace.api import serve_app
        from grace.config import Settings
        from grace.engine import Engine
        from grace.testing import StoreIngest
        from grace.tokens import Role

        settings = Settings(data_dir={str(tmp_path / ".grace")!r}, log_dir={str(tmp_path / "logs")!r},
                            database_url={database_url!r}, bundled_playbooks=False)
        engine = Engine(settings)
        _, secret = engine.store.create_token(name="op", role=Role.OPERATOR, by="test")
        auth = {{"Authorization": "Bearer " + secret}}
        front = serve_app(StoreIngest(engine.store), settings=settings, engine=engine)
        seen = []

        async def main():
            transport = httpx.ASGITransport(app=front)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.get("/health")
                seen.append(["health", r.status_code, "fastapi" in sys.modules])
                r = await c.post("/api/events", headers=auth, json={json.dumps(EVENT)})
                seen.append(["events", r.status_code, "fastapi" in sys.modules])
                r = await c.get("/metrics")
                seen.append(["metrics", r.status_code, "fastapi" in sys.modules])
                r = await c.get("/api/playbooks/status", headers=auth)
                seen.append(["playbooks", r.status_code, "fastapi" in sys.modules])

        anyio.run(main)
        engine.close()
        print(json.dumps(seen))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        ["health", 200, False],
        ["events", 202, False],
        ["metrics", 200, False],
        ["playbooks", 200, True],
    ]


def test_settings_default_open_paths_include_health() -> None:
    """The front answers /health without credentials by default, as the full app does."""
    assert "/health" in Settings().api.open_paths
