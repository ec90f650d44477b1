"""The dashboard's emergency stop, resume and ticket close forms over a real engine (SQLite, and
PostgreSQL when ``GRACE_TEST_DATABASE_URL`` is set), served in-process through
``httpx.ASGITransport`` with auth on: the same rights as the JSON API (stop and close: operator;
resume: admin), CSRF, refusals shown on the page, and every change audited under the token's
name."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from dashboard_support import (
    ARTIFACTS,
    CLEAN,
    daemon_settings,
    form_csrf,
    log_in,
    new_token,
)

from grace.api import create_app
from grace.engine import Engine
from grace.runs import RunStatus
from grace.testing import StoreIngest, serving
from grace.tokens import Role

pytestmark = pytest.mark.anyio

STOP_FORM = 'action="/emergency-stop"'
RESUME_FORM = 'action="/emergency-stop/resume"'
IN_FORCE = "Emergency stop: all remediation is halted"


def alert(html: str) -> str:
    """The page's error message (its ``role="alert"`` paragraph), or ""."""
    found = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    return "" if found is None else found.group(1)


def audited(engine: Engine, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, subject, payload) of every audit entry with this action, oldest first."""
    return [
        (e.actor, e.subject, e.payload)
        for e in engine.store.audit_entries(limit=10_000)
        if e.action == action
    ]


async def switch_user(client: httpx.AsyncClient, secret: str) -> str:
    """Log ``client`` out and in again with ``secret``; the overview's CSRF token."""
    client.cookies.clear()
    await log_in(client, secret)
    return form_csrf((await client.get("/")).text)


async def test_an_operator_stops_everything_and_only_an_admin_resumes(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """An operator presses the stop with a reason: a queued run is aborted, the API reports the
    stop, and the overview shows who, when and why with no stop form and, for an operator, no
    resume form; the operator's resume post is 403. An admin sees the resume form and lifts the
    stop. Both are audited under the tokens' names; a second stop or resume changes nothing and
    says so (409)."""
    admin_secret = new_token(web_engine, Role.ADMIN, "ada")
    queued = web_engine.new_run("clear_cache", status=RunStatus.QUEUED)
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    page = await browser_client.get("/")
    assert page.status_code == 200
    assert STOP_FORM in page.text
    assert "Stop all remediation" in page.text
    assert RESUME_FORM not in page.text
    assert web_engine.store.emergency_stop() is None

    csrf = form_csrf(page.text)
    stopped = await browser_client.post(
        "/emergency-stop", data={"csrf_token": csrf, "reason": "database failover in progress"}
    )
    assert stopped.status_code == 303, stopped.text
    assert stopped.headers["location"] == "/#emergency-stop"
    state = web_engine.store.emergency_stop()
    assert state is not None
    assert (state["by"], state["reason"]) == ("olga", "database failover in progress")
    api = (await browser_client.get("/api/emergency-stop")).json()
    assert (api["active"], api["by"], api["reason"]) == (
        True,
        "olga",
        "database failover in progress",
    )
    assert web_engine.store.get_run(queued.id).status is RunStatus.ABORTED

    shown = (await browser_client.get("/")).text
    assert IN_FORCE in shown
    assert "<dt>Stopped by</dt><dd>olga</dd>" in shown
    assert "<dd>database failover in progress</dd>" in shown
    assert "Resuming needs the admin role; you are operator." in shown
    assert RESUME_FORM not in shown
    assert STOP_FORM not in shown
    fragment = (await browser_client.get("/ui/overview")).text
    assert IN_FORCE in fragment
    assert "emergency stop in force" in fragment  # the screen reader's announcement

    refused = await browser_client.post("/emergency-stop/resume", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "needs the admin role" in refused.json()["error"]
    again = await browser_client.post(
        "/emergency-stop", data={"csrf_token": csrf, "reason": "me too"}
    )
    assert again.status_code == 409
    assert "already in force (by olga at" in alert(again.text)
    state = web_engine.store.emergency_stop()
    assert state is not None
    assert (state["by"], state["reason"]) == ("olga", "database failover in progress")

    csrf = await switch_user(browser_client, admin_secret)
    as_admin = (await browser_client.get("/")).text
    assert RESUME_FORM in as_admin
    assert 'for="resume-reason"' in as_admin
    lifted = await browser_client.post(
        "/emergency-stop/resume", data={"csrf_token": csrf, "reason": "failover done"}
    )
    assert lifted.status_code == 303, lifted.text
    assert lifted.headers["location"] == "/#emergency-stop"
    assert web_engine.store.emergency_stop() is None
    assert (await browser_client.get("/api/emergency-stop")).json() == {
        "active": False,
        "by": None,
        "reason": None,
        "at": None,
    }
    after = (await browser_client.get("/")).text
    assert IN_FORCE not in after
    assert STOP_FORM in after
    twice = await browser_client.post("/emergency-stop/resume", data={"csrf_token": csrf})
    assert twice.status_code == 409
    assert "was not in force" in alert(twice.text)

    assert audited(web_engine, "control.emergency_stop") == [
        (
            "olga",
            "emergency_stop",
            {
                "by": "olga",
                "reason": "database failover in progress",
                "at": state["at"],
            },
        )
    ]
    assert audited(web_engine, "control.resumed") == [
        ("ada", "emergency_stop", {"reason": "failover done"})
    ]


async def test_a_stop_without_csrf_by_a_viewer_or_without_a_reason_is_refused(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """A post carrying the session cookie but no CSRF token, a wrong one or a foreign Origin is
    403; a viewer sees a note instead of the form and is 403 even with the token; a blank
    reason re-renders the overview with a clear message (422). Nothing is stopped or audited."""
    viewer_secret = new_token(web_engine, Role.VIEWER, "val")
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    csrf = form_csrf((await browser_client.get("/")).text)
    for data, headers in (
        ({"reason": "forged"}, {}),
        ({"reason": "forged", "csrf_token": "0" * 32}, {}),
        ({"reason": "forged", "csrf_token": csrf}, {"Origin": "http://evil.example"}),
    ):
        forged = await browser_client.post("/emergency-stop", data=data, headers=headers)
        assert forged.status_code == 403, (data, headers)
    for blank in ({"csrf_token": csrf}, {"csrf_token": csrf, "reason": "   "}):
        no_reason = await browser_client.post("/emergency-stop", data=blank)
        assert no_reason.status_code == 422
        assert no_reason.headers["content-type"].startswith("text/html")
        assert "Stopping all remediation needs a reason" in alert(no_reason.text)
        assert STOP_FORM in no_reason.text  # the form is right there to try again

    csrf = await switch_user(browser_client, viewer_secret)
    as_viewer = (await browser_client.get("/")).text
    assert STOP_FORM not in as_viewer
    assert "Pressing the emergency stop needs the operator role; you are viewer." in as_viewer
    refused = await browser_client.post(
        "/emergency-stop", data={"csrf_token": csrf, "reason": "just looking"}
    )
    assert refused.status_code == 403
    assert "token 'val' is a viewer" in refused.json()["error"]
    assert web_engine.store.emergency_stop() is None
    assert audited(web_engine, "control.emergency_stop") == []


async def test_an_operator_closes_a_ticket_and_closing_it_again_is_a_409_message(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """The tickets page offers a close form on each open ticket; the operator's close (with a
    note) is recorded and audited under the token's name and the ticket moves to the closed
    list; closing it again re-renders the page with the store's message (409); an unknown id is
    404; a post without the CSRF token, or a viewer's, is 403 and closes nothing."""
    viewer_secret = new_token(web_engine, Role.VIEWER, "val")
    first = web_engine.store.open_ticket(title="disk nearly full", service="cache")
    second = web_engine.store.open_ticket(title="certificate expires soon", service="edge")
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    page = await browser_client.get("/tickets")
    assert page.status_code == 200
    assert f'action="/tickets/{first.id}/close"' in page.text
    assert f'action="/tickets/{second.id}/close"' in page.text
    assert f'for="done-{first.id}"' in page.text
    csrf = form_csrf(page.text)

    url = f"/tickets/{first.id}/close"
    forged = await browser_client.post(url, data={"reason": "forged"})
    assert forged.status_code == 403
    assert [t.id for t in web_engine.store.list_tickets(status="closed")] == []

    closed = await browser_client.post(url, data={"csrf_token": csrf, "reason": "disk cleaned"})
    assert closed.status_code == 303, closed.text
    assert closed.headers["location"] == f"/tickets#ticket-{first.id}"
    assert [t.id for t in web_engine.store.list_tickets(status="closed")] == [first.id]
    assert [t.id for t in web_engine.store.list_tickets(status="open")] == [second.id]
    assert audited(web_engine, "ticket.closed") == [("olga", first.id, {"reason": "disk cleaned"})]
    shown = (await browser_client.get("/tickets")).text
    assert f'action="/tickets/{first.id}/close"' not in shown
    closed_list = shown.split('id="t-closed"', 1)[1]
    assert first.id in closed_list
    assert "disk nearly full" in closed_list

    again = await browser_client.post(url, data={"csrf_token": csrf})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert f"ticket {first.id} is already closed" in alert(again.text)
    assert "Tickets</h1>" in again.text  # the page, not a bare error
    unknown = await browser_client.post("/tickets/tkt_nope/close", data={"csrf_token": csrf})
    assert unknown.status_code == 404
    assert "no ticket with id &#39;tkt_nope&#39;" in alert(unknown.text)

    csrf = await switch_user(browser_client, viewer_secret)
    as_viewer = (await browser_client.get("/tickets")).text
    assert f'action="/tickets/{second.id}/close"' not in as_viewer
    assert "closing needs the operator role" in as_viewer
    refused = await browser_client.post(
        f"/tickets/{second.id}/close", data={"csrf_token": csrf, "reason": "x"}
    )
    assert refused.status_code == 403
    assert "token 'val' is a viewer" in refused.json()["error"]
    assert [t.id for t in web_engine.store.list_tickets(status="open")] == [second.id]
    assert len(audited(web_engine, "ticket.closed")) == 1


async def test_with_auth_off_the_controls_ask_who_acts(web_engine: Engine) -> None:
    """``api.auth: false``: no login, no CSRF; the stop, resume and close forms ask for a name,
    which is what the audit records (a nameless post is 422, as in the JSON API)."""
    app: Any = create_app(StoreIngest(web_engine.store), engine=web_engine, auth=False)
    ticket = web_engine.store.open_ticket(title="disk nearly full", service="cache")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
    ) as client:
        page = (await client.get("/")).text
        assert 'id="stop-by" name="by" required' in page
        nameless = await client.post("/emergency-stop", data={"reason": "failover"})
        assert nameless.status_code == 422
        assert "body.by: required when API auth is off" in alert(nameless.text)
        assert web_engine.store.emergency_stop() is None
        stopped = await client.post("/emergency-stop", data={"reason": "failover", "by": "carol"})
        assert stopped.status_code == 303
        assert 'id="resume-by" name="by" required' in (await client.get("/")).text
        resumed = await client.post("/emergency-stop/resume", data={"by": "dave"})
        assert resumed.status_code == 303
        tickets = (await client.get("/tickets")).text
        assert f'id="by-{ticket.id}" name="by" required' in tickets
        closed = await client.post(f"/tickets/{ticket.id}/close", data={"by": "erin"})
        assert closed.status_code == 303
    assert web_engine.store.emergency_stop() is None
    assert [a for a, _, _ in audited(web_engine, "control.emergency_stop")] == ["carol"]
    assert [a for a, _, _ in audited(web_engine, "control.resumed")] == ["dave"]
    assert audited(web_engine, "ticket.closed") == [("erin", ticket.id, {"reason": ""})]


@pytest.mark.slow
async def test_in_a_phone_browser_a_half_typed_reason_survives_the_live_refresh(
    tmp_path: Path,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
    chromium: Path,
) -> None:
    """Debian's Chromium at phone width (390 px, dark scheme) against a real daemon, auth on: an
    operator types a stop reason, clicks elsewhere while a run finishes (the overview's live
    region is swapped in anew), and the reason is still there; Enter presses the stop. On the
    tickets page an opened close form and its note survive a swap too, and the close lands.
    An admin resumes. No console error (the Content-Security-Policy holds)."""
    from playwright.async_api import async_playwright, expect

    write_playbook("clear", CLEAN)
    settings = daemon_settings(tmp_path, playbook_dir)
    base = f"http://{settings.listen}"
    async with serving(settings) as daemon:
        store = daemon.engine.store
        operator = await anyio.to_thread.run_sync(new_token, daemon.engine, Role.OPERATOR, "olga")
        admin = await anyio.to_thread.run_sync(new_token, daemon.engine, Role.ADMIN, "ada")
        ticket = await anyio.to_thread.run_sync(
            lambda: store.open_ticket(title="disk nearly full", service="cache")
        )

        async def run_clear_cache() -> str:
            async with httpx.AsyncClient(base_url=base) as api:
                asked = await api.post(
                    "/api/playbooks/clear_cache/execute",
                    headers={"Authorization": f"Bearer {operator}"},
                    json={},
                )
            assert asked.status_code == 201, asked.text
            return str(asked.json()["id"])

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(chromium),
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
            try:
                errors: list[str] = []

                async def logged_in(secret: str, **options: Any) -> Any:
                    context = await browser.new_context(**options)
                    page = await context.new_page()
                    page.set_default_timeout(15_000)
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.on(
                        "console",
                        lambda msg: (
                            errors.append(msg.text)
                            if msg.type == "error"
                            and "favicon.ico" not in msg.location.get("url", "")
                            else None
                        ),
                    )
                    await page.goto(f"{base}/login")
                    await page.get_by_label("API token").fill(secret)
                    await page.get_by_role("button", name="Log in").click()
                    await page.wait_for_url(f"{base}/")
                    return page

                phone = await logged_in(
                    operator, viewport={"width": 390, "height": 844}, color_scheme="dark"
                )
                reason = phone.get_by_label("Why stop everything (required)")
                await reason.fill("disk filling up on db-1")
                await phone.get_by_role("heading", name="Last verification").click()
                run_id = await run_clear_cache()
                await expect(phone.locator(f'a[href="/runs/{run_id}"]').first).to_be_visible()
                await expect(reason).to_have_value("disk filling up on db-1")
                await phone.screenshot(path=str(tmp_path / "stop-form-phone.png"), full_page=True)
                await reason.press("Enter")
                await phone.wait_for_url(f"{base}/#emergency-stop")
                panel = phone.locator("#emergency-stop")
                await expect(panel).to_contain_text("all remediation is halted")
                await expect(panel).to_contain_text("disk filling up on db-1")
                await expect(panel).to_contain_text("Resuming needs the admin role")
                await phone.screenshot(path=str(tmp_path / "stop-phone.png"), full_page=True)
                state = await anyio.to_thread.run_sync(store.emergency_stop)
                assert state is not None
                assert (state["by"], state["reason"]) == ("olga", "disk filling up on db-1")

                await phone.goto(f"{base}/tickets")
                await phone.get_by_text("Close…").click()
                note = phone.locator(f"#done-{ticket.id}")
                await expect(note).to_be_visible()
                await note.fill("cleaned /var/tmp")
                await phone.get_by_role("heading", name="Tickets", level=1).click()
                await anyio.to_thread.run_sync(
                    lambda: store.open_ticket(title="certificate expires", service="edge")
                )
                await expect(phone.get_by_text("certificate expires")).to_be_visible()
                await expect(note).to_be_visible()
                await expect(note).to_have_value("cleaned /var/tmp")
                await phone.get_by_role("button", name=f"Close ticket {ticket.id}").click()
                await phone.wait_for_url(f"{base}/tickets#ticket-{ticket.id}")
                closed = await anyio.to_thread.run_sync(lambda: store.list_tickets(status="closed"))
                assert [t.id for t in closed] == [ticket.id]

                desk = await logged_in(admin, viewport={"width": 1280, "height": 900})
                await desk.get_by_label("Why resume (optional, recorded)").fill("db-1 has room")
                await desk.get_by_role("button", name="Resume remediation").click()
                await desk.wait_for_url(f"{base}/#emergency-stop")
                await expect(
                    desk.get_by_role("button", name="Stop all remediation")
                ).to_be_visible()
                assert await anyio.to_thread.run_sync(store.emergency_stop) is None
                assert errors == [], errors
            finally:
                await browser.close()

    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("stop-form-phone.png", "stop-phone.png"):
        shutil.copy(tmp_path / name, ARTIFACTS / f"dashboard-{name}")
