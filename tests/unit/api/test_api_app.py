"""The app itself: health, heartbeats, OpenAPI, error bodies, webhooks from settings, lightness."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from grace import __version__
from grace.api import create_app, webhooks_from_settings
from grace.config import Settings
from grace.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from conftest import ClientFactory, FakeIngest


class TestHealth:
    @pytest.mark.anyio
    async def test_health_answers_ok_and_the_version(self, client: httpx.AsyncClient) -> None:
        """``GET /health`` is ``{"status": "ok", "version": …}``."""
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": __version__}


class TestHeartbeats:
    @pytest.mark.anyio
    async def test_a_heartbeat_with_detail_is_recorded(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """The body becomes the heartbeat's detail; the reply is 204 with no body."""
        response = await client.post("/api/heartbeats/nightly-backup", json={"pid": 4121})
        assert response.status_code == 204
        assert response.content == b""
        assert ingest.beats == [("nightly-backup", {"pid": 4121})]

    @pytest.mark.anyio
    async def test_a_heartbeat_without_body_has_empty_detail(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """No body (``curl -X POST``) is an empty detail."""
        response = await client.post("/api/heartbeats/runner")
        assert response.status_code == 204
        assert ingest.beats == [("runner", {})]

    @pytest.mark.anyio
    async def test_a_detail_that_is_not_an_object_is_a_422(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """A list as detail is refused with a message saying what to send."""
        response = await client.post("/api/heartbeats/runner", json=[1, 2])
        assert response.status_code == 422
        assert response.json() == {
            "error": "body: a heartbeat's detail must be a JSON object, got list",
            "hint": "send {} or no body at all",
        }
        assert ingest.beats == []

    @pytest.mark.anyio
    async def test_a_bad_name_is_a_422(self, client: httpx.AsyncClient) -> None:
        """A name longer than 200 characters is refused."""
        response = await client.post("/api/heartbeats/" + "n" * 201)
        assert response.status_code == 422
        assert response.json()["error"] == (
            "path.name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$'"
        )


class TestOpenApi:
    @pytest.mark.anyio
    async def test_docs_and_schema_are_served(self, client: httpx.AsyncClient) -> None:
        """``/docs`` serves Swagger UI; ``/openapi.json`` lists every API route (the dashboard's
        pages are not part of it)."""
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        schema = (await client.get("/openapi.json")).json()
        assert set(schema["paths"]) == {
            "/health",
            "/metrics",
            "/api/startup/dashboard",
            "/api/startup/health-summary",
            "/api/meta/focus",
            "/api/events",
            "/api/webhooks/alertmanager",
            "/api/webhooks/{name}",
            "/api/heartbeats/{name}",
            "/api/approvals",
            "/api/approvals/{run_id}",
            "/api/approvals/{run_id}/approve",
            "/api/approvals/{run_id}/reject",
            "/api/playbooks/{name}/execute",
            "/api/emergency-stop",
            "/api/agent/runs",
            "/api/agent/runs/active",
            "/api/agent/runs/{run_id}/timeline",
            "/api/playbooks/status",
            "/api/playbooks/metrics",
            "/api/playbooks/{name}/stats",
            "/api/tickets",
            "/api/tickets/{ticket_id}/close",
            "/api/audit",
            "/api/audit/verify",
            "/api/silences",
            "/api/silences/{silence_id}",
            "/api/agent/runs/{run_id}/steps",
            "/api/agent/runs/{run_id}/complete",
            "/api/meta/cycles",
            "/api/playbooks/{name}/disable",
            "/api/playbooks/{name}/enable",
            "/api/self_heal/learning",
            "/api/self_heal/learning/outcomes",
            "/api/self_heal/scheduler_counters",
            "/api/self_heal/scheduler_health",
        }
        assert schema["info"]["version"] == __version__

    @pytest.mark.anyio
    async def test_request_bodies_are_documented_without_dangling_refs(
        self, client: httpx.AsyncClient
    ) -> None:
        """The hand-parsed bodies are documented inline (no ``#/$defs`` reference left)."""
        schema = (await client.get("/openapi.json")).json()
        events = schema["paths"]["/api/events"]["post"]["requestBody"]["content"]
        am = schema["paths"]["/api/webhooks/alertmanager"]["post"]["requestBody"]["content"]
        assert "$defs" not in str(events)
        assert "$defs" not in str(am)
        am_schema = am["application/json"]["schema"]
        assert {"version", "alerts", "groupKey", "truncatedAlerts"} <= set(am_schema["properties"])
        assert len(events["application/json"]["schema"]["anyOf"]) == 3


class TestErrors:
    @pytest.mark.anyio
    async def test_an_unknown_route_is_a_json_404(self, client: httpx.AsyncClient) -> None:
        """Even a 404 is ``{"error", "hint"}``."""
        response = await client.get("/api/nothing")
        assert response.status_code == 404
        assert response.json() == {
            "error": "no route GET /api/nothing",
            "hint": "see /docs for the routes",
        }

    @pytest.mark.anyio
    async def test_a_wrong_method_is_a_json_405(self, client: httpx.AsyncClient) -> None:
        """``PUT /api/events`` says the method is not allowed."""
        response = await client.put("/api/events", json={})
        assert response.status_code == 405
        assert response.json()["error"] == "PUT is not allowed on /api/events"

    @pytest.mark.anyio
    async def test_a_store_outage_is_a_503_so_senders_retry(
        self, client: httpx.AsyncClient, ingest: FakeIngest
    ) -> None:
        """StoreError becomes 503 (Alertmanager and the SDK retry a 5xx, not a 4xx)."""
        ingest.fail_with = StoreError("database is locked")
        response = await client.post("/api/events", json={"kind": "log"})
        assert response.status_code == 503
        assert response.json() == {
            "error": "the store is unavailable: database is locked",
            "hint": "retry later",
        }

    @pytest.mark.anyio
    async def test_an_unexpected_failure_is_a_500_without_a_trace(
        self, make_client: ClientFactory, ingest: FakeIngest
    ) -> None:
        """A bug behind the seam answers a plain JSON 500, with no stack trace in the body."""
        ingest.fail_with = RuntimeError("secret internals")
        async with make_client(raise_app_exceptions=False) as c:
            response = await c.post("/api/events", json={"kind": "log"})
        assert response.status_code == 500
        assert response.json() == {
            "error": "internal error",
            "hint": "the server log has the details",
        }
        assert "secret" not in response.text
        assert "Traceback" not in response.text


class TestCreateApp:
    def test_webhooks_come_from_the_settings_sources(self) -> None:
        """``type: webhook`` items of ``sources:`` are served by name; others are ignored."""
        settings = Settings(
            sources=[
                {"type": "log", "path": "/var/log/app.log"},
                {
                    "type": "webhook",
                    "name": "github",
                    "service": "ci",
                    "mapping": {"message": "{action}: {repository.full_name}"},
                },
            ]
        )
        hooks = webhooks_from_settings(settings)
        assert list(hooks) == ["github"]
        assert hooks["github"].default_service == "ci"
        assert hooks["github"].message == "{action}: {repository.full_name}"

    @pytest.mark.anyio
    async def test_the_app_serves_webhooks_declared_in_settings(self, ingest: FakeIngest) -> None:
        """Given only settings, the declared webhook is reachable and maps the body."""
        settings = Settings(
            sources=[{"type": "webhook", "name": "github", "mapping": {"message": "{action}"}}]
        )
        app = create_app(ingest, settings=settings, auth=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.post("/api/webhooks/github", json={"action": "opened"})
        assert response.status_code == 202
        assert ingest.events[0][0].message == "opened"

    @pytest.mark.parametrize(
        ("source", "error"),
        [
            (
                {"type": "webhook", "name": "alertmanager"},
                "sources[0]: webhook field 'name': Value error, the name 'alertmanager' is "
                "reserved for Alertmanager's own payload route",
            ),
            (
                {"type": "webhook", "name": "gh", "mapping": {"message": "{unclosed"}},
                "sources[0]: webhook field 'mapping.message': Value error, template '{unclosed' "
                "has an unmatched '{' (write {{ for a literal brace)",
            ),
            (
                {"type": "webhook", "name": "a b"},
                "sources[0]: webhook field 'name': String should match pattern "
                "'^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'",
            ),
        ],
    )
    def test_a_bad_webhook_declaration_names_the_item(
        self, source: dict[str, object], error: str
    ) -> None:
        """A faulty ``sources:`` item is a ConfigError naming its index and field."""
        with pytest.raises(ConfigError) as caught:
            webhooks_from_settings(Settings(sources=[source]))
        assert str(caught.value) == error

    def test_two_webhooks_with_one_name_are_refused(self) -> None:
        """Names are URL segments and must be unique."""
        hook = {"type": "webhook", "name": "gh"}
        with pytest.raises(ConfigError, match="a webhook named 'gh' is already declared"):
            webhooks_from_settings(Settings(sources=[hook, hook]))

    def test_the_alertmanager_name_is_reserved_for_explicit_mappings(
        self, ingest: FakeIngest
    ) -> None:
        """``webhooks={"alertmanager": …}`` would be shadowed by the built-in route: refused."""
        from grace.sources.builtin.webhook import WebhookMapping

        with pytest.raises(ConfigError, match="cannot be served at /api/webhooks/alertmanager"):
            create_app(ingest, webhooks={"alertmanager": WebhookMapping()}, auth=False)

    def test_a_body_limit_below_one_byte_is_refused(self, ingest: FakeIngest) -> None:
        """``max_body_bytes=0`` would refuse every request."""
        with pytest.raises(ConfigError, match="max_body_bytes must be at least 1, got 0"):
            create_app(ingest, max_body_bytes=0, auth=False)


def test_importing_grace_api_does_not_load_fastapi() -> None:
    """``import grace.api`` stays light; FastAPI loads when an app is built."""
    code = (
        "import sys, grace, grace.api, grace.cli;"
        "print(sorted(m for m in ('fastapi', 'starlette') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_grace_and_its_cli_do_not_import_the_api() -> None:
    """Light commands never import ``grace.api`` (nothing imports it but the server)."""
    code = "import sys, grace, grace.cli; print('grace.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
