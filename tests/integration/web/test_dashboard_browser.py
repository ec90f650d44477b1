"""The dashboard in a real browser: Playwright drives Debian's Chromium against a real daemon
serving with auth on.

An operator asks for a high-risk run (it waits for approval); an approver logs in with a
token, finds the run on the approvals page, approves it, and watches it succeed without
reloading the page. Screenshots land in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from dashboard_support import (
    ARTIFACTS,
    CLEAN,
    daemon_settings,
    new_token,
    risky_playbook,
)

from grace.runs import RunStatus
from grace.testing import serving
from grace.tokens import Role

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_an_approver_logs_in_approves_and_watches_the_run_succeed_live(
    tmp_path: Path,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
    chromium: Path,
) -> None:
    """Login → approvals → run page → Approve → ``succeeded`` appears by polling, on the
    same page load; a forged post (no CSRF token, or a foreign Origin) is refused 403."""
    from playwright.async_api import async_playwright, expect

    write_playbook("rotate", risky_playbook(settle_s=1.5))
    write_playbook("clear", CLEAN)
    settings = daemon_settings(tmp_path, playbook_dir)
    base = f"http://{settings.listen}"
    async with serving(settings) as daemon:
        store = daemon.engine.store
        operator = await anyio.to_thread.run_sync(new_token, daemon.engine, Role.OPERATOR, "ops")
        approver = await anyio.to_thread.run_sync(new_token, daemon.engine, Role.APPROVER, "alice")
        async with httpx.AsyncClient(base_url=base) as api:
            asked = await api.post(
                "/api/playbooks/rotate_keys/execute",
                headers={"Authorization": f"Bearer {operator}"},
                json={},
            )
        assert asked.status_code == 201, asked.text
        run_id = asked.json()["id"]
        assert asked.json()["status"] == "awaiting_approval"

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(chromium),
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                page.set_default_timeout(15_000)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                # Console errors include Content-Security-Policy violations. (The login page,
                # which is not the dashboard's, lets the browser ask for /favicon.ico: 401.)
                page.on(
                    "console",
                    lambda msg: (
                        errors.append(msg.text)
                        if msg.type == "error" and "favicon.ico" not in msg.location.get("url", "")
                        else None
                    ),
                )

                # Not logged in: the approvals page sends the browser to the login form.
                await page.goto(f"{base}/approvals")
                assert "/login?next=%2Fapprovals" in page.url
                await page.screenshot(path=str(tmp_path / "login.png"))
                await page.get_by_label("API token").fill(approver)
                await page.get_by_role("button", name="Log in").click()
                await page.wait_for_url(f"{base}/approvals")
                await expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
                await page.screenshot(path=str(tmp_path / "approvals.png"), full_page=True)

                # From the approvals list to the run page.
                await page.get_by_role("link", name="rotate_keys").click()
                await page.wait_for_url(f"{base}/runs/{run_id}")
                status = page.locator("[data-run-status]")
                await expect(status).to_have_attribute("data-run-status", "awaiting_approval")
                await page.screenshot(path=str(tmp_path / "run-pending.png"), full_page=True)

                # Approve: the form posts, the page comes back with the run queued or running.
                await page.get_by_label("Note (optional)").first.fill("keys are due")
                await page.get_by_role("button", name="Approve").click()
                await page.wait_for_url(f"{base}/runs/{run_id}?done=approved")
                await expect(page.get_by_role("status").first).to_contain_text(
                    "You approved this run."
                )
                first = await status.get_attribute("data-run-status")
                assert first in {"queued", "running"}, first
                await page.evaluate("window.graceTestMark = 'same page load'")

                # No reload from here: the live region polls until the run has succeeded.
                await expect(status).to_have_attribute(
                    "data-run-status", "succeeded", timeout=20_000
                )
                assert await page.evaluate("window.graceTestMark") == "same page load"
                announcer = page.locator("[data-announcer]")
                await expect(announcer).to_have_attribute("aria-live", "polite")
                await expect(announcer).to_have_text(f"Run {run_id} is succeeded")
                await expect(page.locator("time").first).to_contain_text("ago")
                await expect(page.locator("svg rect.bar")).to_have_count(3)
                shot = tmp_path / "run-succeeded.png"
                await page.screenshot(path=str(shot), full_page=True)

                # The overview on a phone-sized screen in the dark scheme, for the record.
                phone = await browser.new_context(
                    viewport={"width": 390, "height": 844},
                    storage_state=await context.storage_state(),
                    color_scheme="dark",
                )
                small = await phone.new_page()
                await small.goto(f"{base}/")
                await expect(
                    small.get_by_role("heading", name="Grace is", exact=False)
                ).to_be_visible()
                await small.screenshot(path=str(tmp_path / "overview-phone.png"), full_page=True)
                await phone.close()

                await page.goto(f"{base}/playbooks")
                await expect(page.get_by_role("cell", name="100%")).to_be_visible()
                await page.get_by_text("Turn off", exact=False).first.click()  # opens the form
                await page.screenshot(path=str(tmp_path / "playbooks.png"), full_page=True)

                # Forged posts carrying the session cookie are refused.
                forged = await context.request.post(
                    f"{base}/runs/{run_id}/reject", form={"reason": "forged"}
                )
                assert forged.status == 403, await forged.text()
                assert "CSRF" in (await forged.json())["error"]
                foreign = await context.request.post(
                    f"{base}/runs/{run_id}/reject",
                    form={"reason": "forged", "csrf_token": "guess"},
                    headers={"Origin": "http://evil.example"},
                )
                assert foreign.status == 403, await foreign.text()
                assert errors == [], errors
            finally:
                await browser.close()

        run = await anyio.to_thread.run_sync(store.get_run, run_id)
        assert run.status is RunStatus.SUCCEEDED
        verdicts = await anyio.to_thread.run_sync(store.approvals_of, run_id)
        assert [(v.approver, v.verdict, v.reason) for v in verdicts] == [
            ("alice", "approved", "keys are due")
        ]

    ARTIFACTS.mkdir(exist_ok=True)
    shots = ("login", "approvals", "run-pending", "run-succeeded", "overview-phone", "playbooks")
    for name in (f"{shot}.png" for shot in shots):
        shutil.copy(tmp_path / name, ARTIFACTS / f"dashboard-{name}")
