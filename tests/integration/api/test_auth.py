"""Tokens, roles, sessions and CSRF on the real app over a real store (SQLite and PostgreSQL).

Sweeps walk every route the app serves, so a route added later is covered without a test
naming it: no token → 401, a viewer → 403 on anything that changes state.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from grace.engine import Engine
from grace.tokens import Role

pytestmark = pytest.mark.anyio

OPEN = {"/health", "/metrics", "/login"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    """The app with auth on (the default): tokens live in the engine's store."""
    return make_app()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://grace.test",
    ) as c:
        yield c


def token(engine: Engine, role: Role, name: str | None = None) -> dict[str, str]:
    """A header carrying a fresh token of ``role``."""
    _, secret = engine.store.create_token(name=name or role.label, role=role, by="test")
    return {"Authorization": f"Bearer {secret}"}


def operations(app: Any) -> list[tuple[str, str, str]]:
    """(method, concrete path, operation id) for every operation the app publishes, path
    parameters filled in."""
    found = []
    for path, ops in app.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method, op in ops.items():
            found.append((method.upper(), concrete, op.get("operationId", "")))
    return found


async def test_every_route_but_the_open_ones_needs_credentials(
    app: Any, client: httpx.AsyncClient
) -> None:
    """No credentials: 401 with a Bearer challenge and a hint, before any route runs."""
    ops = operations(app)
    assert len(ops) >= 30  # the sweep really covers the API
    for method, path, name in ops:
        response = await client.request(method, path)
        if path in OPEN:
            assert response.status_code != 401, (method, path)
            continue
        assert response.status_code == 401, (method, path, name, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="grace"'
        body = response.json()
        assert body["error"].startswith("authentication required")
        assert "grace token create" in body["hint"]


async def test_health_and_metrics_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "grace_" in metrics.text


async def test_a_bad_or_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    for header in (
        "Bearer grace_not-a-real-token-at-all-000000000000",
        "Bearer short",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ):
        response = await client.get("/api/agent/runs", headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_a_viewer_reads_but_changes_nothing(
    app: Any, client: httpx.AsyncClient, api_engine: Engine
) -> None:
    """A viewer gets every read, and 403 (naming the role needed) on every write."""
    viewer = token(api_engine, Role.VIEWER)
    assert (await client.get("/api/agent/runs", headers=viewer)).status_code == 200
    assert (await client.get("/api/playbooks/status", headers=viewer)).status_code == 200
    writes = [(m, p, n) for m, p, n in operations(app) if m in UNSAFE and p not in OPEN]
    assert len(writes) >= 10
    for method, path, name in writes:
        response = await client.request(method, path, headers=viewer, json={})
        assert response.status_code == 403, (method, path, name, response.text)
        assert "token 'viewer' is a viewer" in response.json()["error"]


async def test_approving_needs_the_approver_role_and_records_the_token(
    client: httpx.AsyncClient, api_engine: Engine
) -> None:
    """Viewer and operator: 403. Approver: the approval is recorded under the token's name,
    and a token cannot claim to be somebody else."""
    run = api_engine.new_run("purge_queue", requested_by="ops")
    assert run.status.value == "awaiting_approval"
    url = f"/api/approvals/{run.id}/approve"
    for role in (Role.VIEWER, Role.OPERATOR):
        refused = await client.post(url, headers=token(api_engine, role), json={})
        assert refused.status_code == 403
        assert refused.json()["error"].startswith("this needs the approver role")
    alice = token(api_engine, Role.APPROVER, "alice")
    impostor = await client.post(url, headers=alice, json={"approver": "bob"})
    assert impostor.status_code == 403
    assert "'bob' is not this token's holder 'alice'" in impostor.json()["error"]
    approved = await client.post(url, headers=alice, json={"reason": "checked"})
    assert approved.status_code == 200, approved.text
    verdicts = (await client.get(f"/api/approvals/{run.id}", headers=alice)).json()
    assert [(v["approver"], v["verdict"]) for v in verdicts["approvals"]] == [("alice", "approved")]
    entries = api_engine.store.audit_entries()
    assert any(e.actor == "alice" and e.action == "run.approved" for e in entries)


async def test_the_emergency_stop_is_pressed_by_operators_and_lifted_by_admins(
    client: httpx.AsyncClient, api_engine: Engine
) -> None:
    operator = token(api_engine, Role.OPERATOR, "night-shift")
    pressed = await client.post("/api/emergency-stop", headers=operator, json={"reason": "fire"})
    assert pressed.status_code == 200, pressed.text
    assert pressed.json()["by"] == "night-shift"
    assert (await client.delete("/api/emergency-stop", headers=operator)).status_code == 403
    approver = token(api_engine, Role.APPROVER)
    assert (await client.delete("/api/emergency-stop", headers=approver)).status_code == 403
    admin = token(api_engine, Role.ADMIN, "lead")
    lifted = await client.delete("/api/emergency-stop", headers=admin)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["lifted"] is True


async def test_revoked_and_expired_tokens_stop_working(
    api_engine: Engine, make_app: Callable[..., Any]
) -> None:
    """With ``api.token_cache_s: 0`` a revocation by another process is seen on the next request."""
    from grace.config import ApiSettings

    settings = api_engine.settings.model_copy(update={"api": ApiSettings(token_cache_s=0)})
    app = make_app(settings=settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://grace.test") as c:
        header = token(api_engine, Role.VIEWER, "temp")
        assert (await c.get("/api/agent/runs", headers=header)).status_code == 200
        api_engine.store.revoke_token("temp", by="test")
        assert (await c.get("/api/agent/runs", headers=header)).status_code == 401
        soon = api_engine.clock.now() + timedelta(minutes=5)
        _, secret = api_engine.store.create_token(
            name="short", role=Role.VIEWER, by="test", expires_at=soon
        )
        short = {"Authorization": f"Bearer {secret}"}
        assert (await c.get("/api/agent/runs", headers=short)).status_code == 200
        api_engine.clock.advance(301)  # type: ignore[attr-defined]
        assert (await c.get("/api/agent/runs", headers=short)).status_code == 401


async def test_tokens_are_stored_hashed_and_audited(api_engine: Engine) -> None:
    record, secret = api_engine.store.create_token(name="ci", role=Role.OPERATOR, by="lead")
    assert secret.startswith("grace_")
    assert len(secret) >= 40
    with api_engine.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT token_hash, prefix FROM api_tokens").all()
    assert [len(r[0]) for r in rows] == [64]
    assert secret not in repr(rows)
    assert rows[0][1] == secret[:10] == record.prefix
    created = [e for e in api_engine.store.audit_entries() if e.action == "token.created"]
    assert [
        (e.actor, json.loads(e.payload_json)["name"], json.loads(e.payload_json)["role"])
        for e in created
    ] == [("lead", "ci", "operator")]
    assert secret not in repr(created)


# -- dashboard sessions and CSRF ------------------------------------------------------------


async def login(client: httpx.AsyncClient, secret: str, next_: str = "/") -> httpx.Response:
    page = await client.get("/login", params={"next": next_})
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return await client.post(
        "/login", data={"token": secret, "csrf_token": csrf.group(1), "next": next_}
    )


async def test_login_sets_a_hardened_session_cookie(
    client: httpx.AsyncClient, api_engine: Engine
) -> None:
    _, secret = api_engine.store.create_token(name="alice", role=Role.APPROVER, by="test")
    bad = await login(client, "grace_wrong-wrong-wrong-wrong-wrong-wrong")
    assert bad.status_code == 401
    assert "unknown, revoked or expired" in bad.text
    done = await login(client, secret, "/api/agent/runs?limit=5")
    assert done.status_code == 303
    assert done.headers["location"] == "/api/agent/runs?limit=5"
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("grace_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    # The cookie alone now reads the API.
    assert (await client.get("/api/agent/runs")).status_code == 200
    logins = [e for e in api_engine.store.audit_entries() if e.action == "session.login"]
    assert [e.actor for e in logins] == ["alice"]


async def test_login_refuses_a_forged_form_and_open_redirects(
    client: httpx.AsyncClient, api_engine: Engine
) -> None:
    _, secret = api_engine.store.create_token(name="alice", role=Role.APPROVER, by="test")
    forged = await client.post("/login", data={"token": secret, "csrf_token": "guess"})
    assert forged.status_code == 403
    assert "grace_session" not in forged.headers.get("set-cookie", "")
    away = await login(client, secret, "//evil.example/phish")
    assert away.status_code == 303
    assert away.headers["location"] == "/"


async def test_a_session_post_needs_the_csrf_token_and_same_origin(
    app: Any, client: httpx.AsyncClient, api_engine: Engine
) -> None:
    """The cookie alone cannot change anything: a forged cross-site post is refused."""
    _, secret = api_engine.store.create_token(name="alice", role=Role.APPROVER, by="test")
    assert (await login(client, secret)).status_code == 303
    run = api_engine.new_run("purge_queue", requested_by="ops")
    url = f"/api/approvals/{run.id}/approve"
    no_csrf = await client.post(url, json={})
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"] == "CSRF token missing or wrong"
    wrong = await client.post(url, json={}, headers={"X-CSRF-Token": "0" * 32})
    assert wrong.status_code == 403
    sessions = await app.state.grace_sessions()
    good = sessions.csrf(client.cookies["grace_session"])
    cross = await client.post(
        url, json={}, headers={"X-CSRF-Token": good, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert cross.json()["error"].startswith("cross-site request refused")
    assert api_engine.store.get_run(run.id).status.value == "awaiting_approval"
    ok = await client.post(
        url, json={}, headers={"X-CSRF-Token": good, "Origin": "http://grace.test"}
    )
    assert ok.status_code == 200, ok.text
    verdicts = (await client.get(f"/api/approvals/{run.id}")).json()["approvals"]
    assert [v["approver"] for v in verdicts] == ["alice"]


async def test_a_browser_without_a_session_is_sent_to_login(client: httpx.AsyncClient) -> None:
    page = await client.get("/approvals?x=1", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fapprovals%3Fx%3D1"
    api = await client.get("/api/agent/runs", headers={"Accept": "text/html"})
    assert api.status_code == 401


async def test_revoking_the_token_ends_its_sessions(
    api_engine: Engine, make_app: Callable[..., Any]
) -> None:
    from grace.config import ApiSettings

    settings = api_engine.settings.model_copy(update={"api": ApiSettings(token_cache_s=0)})
    app = make_app(settings=settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://grace.test") as c:
        _, secret = api_engine.store.create_token(name="bob", role=Role.VIEWER, by="test")
        assert (await login(c, secret)).status_code == 303
        assert (await c.get("/api/agent/runs")).status_code == 200
        api_engine.store.revoke_token("bob", by="test")
        ended = await c.get("/api/agent/runs")
        assert ended.status_code == 401
        assert "session has ended" in ended.json()["error"]


async def test_a_refusal_names_the_role_with_the_right_article(
    api_engine: Engine, client: httpx.AsyncClient
) -> None:
    """An operator refused an admin's route reads 'is an operator', not 'is a operator'."""
    response = await client.delete("/api/emergency-stop", headers=token(api_engine, Role.OPERATOR))
    assert response.status_code == 403
    assert "token 'operator' is an operator" in response.json()["error"]
