"""What the dashboard tests share besides fixtures: the playbooks, a store-backed ingest door,
logging in, reading a page's CSRF token, and a real daemon for the browser test.

(A plain module, imported by name: ``from conftest import …`` would find whichever conftest
pytest loaded last when several test folders run together.)
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx

from grace.config import Settings
from grace.daemon import Daemon
from grace.engine import Engine
from grace.events import Event
from grace.ingest import Submitted
from grace.store import Store
from grace.tokens import Role

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
"""Screenshots the browser test leaves behind (git-ignored)."""

EVIL = "<script>alert('pwned')</script>"
"""User data that must come out of every page as text."""

RISKY = """
name: rotate_keys
version: 1.2.0
metadata:
  description: Rotate the signing keys <script>alert('pwned')</script>
  risk_level: high
  autonomy_tier: 2
triggers:
  - type: manual
  - type: log_message
    pattern: 'signing key expired'
steps:
  - name: announce
    action: log
    with: {message: "rotating the keys"}
  - name: settle
    action: sleep
    with: {seconds: SETTLE}
  - name: confirm
    action: log
    with: {message: "keys rotated"}
"""
"""High risk at tier 2: the default policy makes every run wait for one approval."""

CLEAN = """
name: clear_cache
metadata:
  description: Clear the cache
  risk_level: low
  autonomy_tier: 2
triggers:
  - type: manual
steps:
  - name: clear
    action: log
    with: {message: "clearing"}
"""

NO_WINDOWS: dict[str, Any] = {"change_windows": {"enabled": False}}


def require_everything() -> bool:
    """CI (``GRACE_REQUIRE_ALL=1`` or ``CI=true``): a missing browser fails instead of skipping."""
    return os.environ.get("GRACE_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"


def risky_playbook(settle_s: float = 0.0) -> str:
    """The ``rotate_keys`` playbook, its middle step sleeping ``settle_s`` seconds."""
    return RISKY.replace("SETTLE", f"{settle_s:g}")


class StoreIngest:
    """:class:`grace.ingest.Ingest` straight onto the store (ingestion is not under test)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        fresh = await anyio.to_thread.run_sync(
            partial(self.store.insert_event, event, event_key=event_key)
        )
        return Submitted(fresh, event.id, "" if fresh else "duplicate")

    async def open_episode(self, key: str, *, service: str = "") -> bool:
        return await anyio.to_thread.run_sync(
            partial(self.store.open_episode, key, service=service)
        )

    async def resolve_episode(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.store.resolve_episode, key)

    async def heartbeat(self, name: str, *, detail: dict[str, object] | None = None) -> None:
        await anyio.to_thread.run_sync(partial(self.store.beat, name, detail=dict(detail or {})))


def new_token(engine: Engine, role: Role, name: str) -> str:
    """A fresh token's secret."""
    _, secret = engine.store.create_token(name=name, role=role, by="test")
    return secret


async def log_in(client: httpx.AsyncClient, secret: str) -> None:
    """Log ``client`` in through the login form (its cookie jar keeps the session)."""
    page = await client.get("/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce is not None
    done = await client.post(
        "/login", data={"token": secret, "csrf_token": nonce.group(1), "next": "/"}
    )
    assert done.status_code == 303, done.text
    assert "grace_session" in client.cookies


def form_csrf(html: str) -> str:
    """The ``csrf_token`` a dashboard page put in its forms."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found is not None, "the page has no form with a csrf_token"
    return found.group(1)


# -- the browser test's daemon ----------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Daemon]:
    """A real daemon (pipeline, runner, HTTP on ``settings.listen``) for the block's duration,
    as ``grace serve`` runs it; its HTTP answers before the block starts."""
    daemon = Daemon.create(settings)
    daemon.reload_interval_s = 0.2
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            url = f"http://{settings.listen}/health"
            async with httpx.AsyncClient() as client:
                for _ in range(200):
                    try:
                        if (await client.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await anyio.sleep(0.02)
            yield daemon
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
