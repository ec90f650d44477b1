"""The dashboard's pages and forms over a real engine (SQLite, and PostgreSQL when
``GRACE_TEST_DATABASE_URL`` is set), served in-process through ``httpx.ASGITransport`` with
auth on: sessions, roles, CSRF, and escaping of what the store holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import (
    EVIL,
    form_csrf,
    log_in,
    new_token,
)

from grace.api import create_app
from grace.engine import Engine
from grace.events import Event
from grace.runs import Run, RunStatus, StepPhase, StepStatus
from grace.testing import StoreIngest
from grace.tokens import Role
from grace.web import STATIC_DIR

pytestmark = pytest.mark.anyio

PAGES = ("/", "/approvals", "/playbooks", "/events", "/tickets", "/audit")
FRAGMENTS = ("/ui/overview", "/ui/approvals", "/ui/playbooks", "/ui/events", "/ui/tickets")


def pending_run(engine: Engine, requested_by: str = "ops") -> Run:
    """A ``rotate_keys`` run, waiting for one approval."""
    run = engine.new_run("rotate_keys", requested_by=requested_by)
    assert run.status is RunStatus.AWAITING_APPROVAL
    return run


def finished_run(engine: Engine) -> Run:
    """A ``clear_cache`` run answering a received event whose message carries a script tag;
    it ran one step and succeeded."""
    event = Event(
        id="evt_1",
        time=datetime(2026, 1, 1, 11, 59, tzinfo=UTC),
        source="log:/var/log/app.log",
        kind="log",
        service="cache",
        severity="error",
        message=f"cache full {EVIL}",
    )
    store = engine.store
    store.insert_event(event)  # received, as the pipeline records every event
    run = engine.new_run("clear_cache", event=event, status=RunStatus.QUEUED)
    run = store.claim_run(run.id, owner="test", lease_s=600)
    attempt = store.begin_step(
        run.id,
        fence=run.fence,
        step="clear",
        phase=StepPhase.MAIN,
        index=0,
        attempt=1,
        action="log",
        params={"message": "clearing"},
    )
    store.finish_step(
        attempt, fence=run.fence, status=StepStatus.SUCCEEDED, outputs={}, completed=True
    )
    return store.finish_run(run.id, fence=run.fence, status=RunStatus.SUCCEEDED)


@pytest.fixture
async def viewer(browser_client: httpx.AsyncClient, web_engine: Engine) -> httpx.AsyncClient:
    """A browser logged in as ``val``, a viewer."""
    await log_in(browser_client, new_token(web_engine, Role.VIEWER, "val"))
    return browser_client


@pytest.fixture
async def approver(browser_client: httpx.AsyncClient, web_engine: Engine) -> httpx.AsyncClient:
    """A browser logged in as ``alice``, an approver."""
    await log_in(browser_client, new_token(web_engine, Role.APPROVER, "alice"))
    return browser_client


async def test_every_page_renders_real_data_for_a_viewer(
    viewer: httpx.AsyncClient, web_engine: Engine
) -> None:
    """Each page and live fragment answers 200 HTML showing what the store holds."""
    waiting = pending_run(web_engine)
    done = finished_run(web_engine)
    web_engine.store.open_ticket(title="disk nearly full", service="cache", run_id=done.id)
    expected = {
        "/": [
            "Grace is DEGRADED",
            waiting.id,
            done.id,
            '<span class="n">ok</span> runner: 0 queued, 0 running',
            "Last verification",
            "verified",
        ],
        "/approvals": [waiting.id, "rotate_keys", "risk <strong>high</strong>"],
        "/playbooks": ["rotate_keys", "clear_cache", "100%", "broken.yaml", "no.such_action"],
        "/events": ["cache full", "log:/var/log/app.log", done.id],
        "/tickets": ["disk nearly full", done.id],
        "/audit": ["verified", "run.created", "session.login"],
        f"/runs/{done.id}": ["succeeded", "clear", "<svg", "cache full"],
        f"/runs/{waiting.id}": ["awaiting approval", "Approving needs the approver role"],
    }
    for path, texts in expected.items():
        page = await viewer.get(path)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert '<main id="main"' in page.text
        assert 'aria-live="polite"' in page.text
        for text in texts:
            assert text in page.text, (path, text)
        assert "val" in page.text  # who is logged in
    for path in (*FRAGMENTS, f"/ui/runs/{done.id}", "/ui/audit"):
        fragment = await viewer.get(path)
        assert fragment.status_code == 200, (path, fragment.text)
        assert "<html" not in fragment.text
    assert 'data-final="true"' in (await viewer.get(f"/ui/runs/{done.id}")).text


async def test_an_unknown_run_is_a_404_page(viewer: httpx.AsyncClient) -> None:
    page = await viewer.get("/runs/run_nope")
    assert page.status_code == 404
    assert "Run not found" in page.text


async def test_without_a_session_pages_send_the_browser_to_login(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """Pages redirect to /login (coming back afterwards); fragments and forms answer 401."""
    run = pending_run(web_engine)
    for path in (*PAGES, f"/runs/{run.id}"):
        page = await browser_client.get(path)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/login?next=%2F"), path
    assert (await browser_client.get("/ui/overview", headers={"Accept": "*/*"})).status_code == 401
    post = await browser_client.post(f"/runs/{run.id}/approve", data={"csrf_token": "x"})
    assert post.status_code == 401
    assert (await browser_client.get("/static/grace.css")).status_code == 200
    login = await browser_client.get("/login")
    assert '<link rel="stylesheet" href="/static/grace.css">' in login.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_an_approver_may_decide(
    browser_client: httpx.AsyncClient, web_engine: Engine, role: Role
) -> None:
    """Even with the session's CSRF token, a viewer or an operator gets 403 on both forms."""
    await log_in(browser_client, new_token(web_engine, role, "sam"))
    run = pending_run(web_engine)
    page = await browser_client.get(f"/runs/{run.id}")
    assert "Approving needs the approver role" in page.text
    csrf = form_csrf((await browser_client.get("/")).text)
    for verdict in ("approve", "reject"):
        refused = await browser_client.post(
            f"/runs/{run.id}/{verdict}", data={"csrf_token": csrf, "reason": "no"}
        )
        assert refused.status_code == 403
        article = "an" if role.label[0] in "aeiou" else "a"
        assert f"token 'sam' is {article} {role.label}" in refused.json()["error"]
    if role is Role.OPERATOR:
        assert "needs the approver role" in refused.json()["error"]
    assert web_engine.store.get_run(run.id).status is RunStatus.AWAITING_APPROVAL
    assert web_engine.store.approvals_of(run.id) == []


async def test_a_form_without_the_csrf_token_is_refused(
    approver: httpx.AsyncClient, web_engine: Engine
) -> None:
    """A forged post carrying the session cookie: no token, a wrong one, or another site's
    Origin — all 403, and nothing is recorded."""
    run = pending_run(web_engine)
    url = f"/runs/{run.id}/approve"
    csrf = form_csrf((await approver.get(f"/runs/{run.id}")).text)
    for data, headers in (
        ({}, {}),
        ({"csrf_token": "0" * 32}, {}),
        ({"csrf_token": csrf}, {"Origin": "http://evil.example"}),
    ):
        refused = await approver.post(url, data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
    assert web_engine.store.approvals_of(run.id) == []


async def test_an_approver_approves_and_rejects_under_their_own_name(
    approver: httpx.AsyncClient, web_engine: Engine
) -> None:
    """The verdict is recorded under the token's name; the browser goes back to the run (or
    the approvals list when the form was there)."""
    first, second = pending_run(web_engine), pending_run(web_engine, requested_by="bob")
    page = await approver.get(f"/runs/{first.id}")
    assert 'action="/runs/' + first.id + '/approve"' in page.text
    csrf = form_csrf(page.text)
    approved = await approver.post(
        f"/runs/{first.id}/approve",
        data={"csrf_token": csrf, "reason": "due", "back": f"/runs/{first.id}"},
    )
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/runs/{first.id}?done=approved"
    shown = await approver.get(approved.headers["location"])
    assert "You approved this run." in shown.text
    assert web_engine.store.get_run(first.id).status is RunStatus.QUEUED
    verdicts = web_engine.store.approvals_of(first.id)
    assert [(v.approver, v.verdict, v.reason) for v in verdicts] == [("alice", "approved", "due")]

    no_reason = await approver.post(f"/runs/{second.id}/reject", data={"csrf_token": csrf})
    assert no_reason.status_code == 422
    assert "a rejection needs a reason" in no_reason.text
    rejected = await approver.post(
        f"/runs/{second.id}/reject",
        data={"csrf_token": csrf, "reason": "not now", "back": "/approvals"},
    )
    assert rejected.status_code == 303
    assert rejected.headers["location"] == "/approvals"
    assert web_engine.store.get_run(second.id).status is RunStatus.REJECTED
    assert "Nothing is waiting for approval." in (await approver.get("/approvals")).text


async def test_a_refused_verdict_is_shown_on_the_run_page(
    approver: httpx.AsyncClient, web_engine: Engine
) -> None:
    """Four eyes: alice cannot approve the run she asked for; the page says so (409)."""
    run = pending_run(web_engine, requested_by="alice")
    csrf = form_csrf((await approver.get(f"/runs/{run.id}")).text)
    refused = await approver.post(f"/runs/{run.id}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert '<p class="error" role="alert">' in refused.text
    assert "alice" in refused.text
    assert web_engine.store.get_run(run.id).status is RunStatus.AWAITING_APPROVAL


async def test_an_operator_turns_a_playbook_off_and_on(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """The playbooks page's switch: a reason is required to turn a playbook off; who and why
    are recorded under the token's name and shown; a viewer, or a post without the CSRF
    token, changes nothing."""
    viewer_secret = new_token(web_engine, Role.VIEWER, "val")
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    page = await browser_client.get("/playbooks")
    assert 'action="/playbooks/rotate_keys/disable"' in page.text
    csrf = form_csrf(page.text)
    url = "/playbooks/rotate_keys/disable"
    assert (await browser_client.post(url, data={"reason": "x"})).status_code == 403
    no_reason = await browser_client.post(url, data={"csrf_token": csrf})
    assert no_reason.status_code == 422
    assert "needs a reason" in no_reason.text
    unknown = await browser_client.post(
        "/playbooks/no_such/disable", data={"csrf_token": csrf, "reason": "x"}
    )
    assert unknown.status_code == 404
    assert "no_such" in unknown.text
    assert web_engine.store.disabled_playbooks() == {}

    off = await browser_client.post(url, data={"csrf_token": csrf, "reason": "key rotation freeze"})
    assert off.status_code == 303
    assert off.headers["location"] == "/playbooks#pb-rotate_keys"
    state = web_engine.store.disabled_playbook("rotate_keys")
    assert state is not None
    assert (state["by"], state["reason"]) == ("olga", "key rotation freeze")
    shown = (await browser_client.get("/playbooks")).text
    assert "key rotation freeze" in shown
    assert 'action="/playbooks/rotate_keys/enable"' in shown

    browser_client.cookies.clear()
    await log_in(browser_client, viewer_secret)
    as_viewer = await browser_client.get("/playbooks")
    assert "/playbooks/rotate_keys/enable" not in as_viewer.text
    refused = await browser_client.post(
        "/playbooks/rotate_keys/enable", data={"csrf_token": form_csrf(as_viewer.text)}
    )
    assert refused.status_code == 403
    assert web_engine.store.disabled_playbook("rotate_keys") is not None


async def test_user_data_is_escaped(approver: httpx.AsyncClient, web_engine: Engine) -> None:
    """A script tag in a playbook's description, an event's message and a rejection reason
    comes out as text on every page."""
    done = finished_run(web_engine)
    run = pending_run(web_engine)
    csrf = form_csrf((await approver.get("/")).text)
    await approver.post(f"/runs/{run.id}/reject", data={"csrf_token": csrf, "reason": EVIL})
    escaped = "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"
    for path in ("/playbooks", "/events", f"/runs/{done.id}", f"/runs/{run.id}", "/audit"):
        page = await approver.get(path)
        assert page.status_code == 200
        assert EVIL not in page.text, path
        assert "<script>alert" not in page.text, path
        if path != "/audit":  # the audit page shows payloads as (escaped) JSON
            assert escaped in page.text, path
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_with_auth_off_the_forms_ask_who_decides(web_engine: Engine) -> None:
    """``api.auth: false``: no login, no CSRF; the approve form asks for a name, which is
    recorded (as the JSON API records the body's ``approver``)."""
    app: Any = create_app(StoreIngest(web_engine.store), engine=web_engine, auth=False)
    run = pending_run(web_engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
    ) as client:
        page = await client.get(f"/runs/{run.id}")
        assert page.status_code == 200
        assert "auth off" in page.text
        assert 'name="approver"' in page.text
        nameless = await client.post(f"/runs/{run.id}/approve", data={"reason": "x"})
        assert nameless.status_code == 422
        done = await client.post(f"/runs/{run.id}/approve", data={"approver": "carol"})
        assert done.status_code == 303
    assert [v.approver for v in web_engine.store.approvals_of(run.id)] == ["carol"]


def test_templates_and_static_files_ship_inside_the_package() -> None:
    """They live under ``src/grace/web`` (hatch puts every file of ``src/grace`` in the wheel)."""
    package = Path(__file__).resolve().parents[3] / "src" / "grace" / "web"
    assert package / "static" == STATIC_DIR
    assert {p.name for p in STATIC_DIR.iterdir()} >= {"grace.css", "grace.js"}
    assert (package / "templates" / "base.html").is_file()
