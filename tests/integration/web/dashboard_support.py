"""What the dashboard tests share besides fixtures: the playbooks, a store-backed ingest door,
logging in, reading a page's CSRF token, and a real daemon for the browser test.

(A plain module, imported by name: ``from conftest import …`` would find whichever conftest
pytest loaded last when several test folders run together.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx

from grace.config import Settings
from grace.engine import Engine
from grace.testing import free_port
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


def daemon_settings(tmp_path: Path, playbook_dir: Path) -> Settings:
    """``grace serve`` in execute mode on a free port, API auth on, SQLite."""
    return Settings(
        data_dir=tmp_path / ".grace",
        database_url=f"sqlite:///{tmp_path / 'grace.db'}",
        playbook_dirs=[playbook_dir],
        log_dir=tmp_path / "logs",
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{free_port()}",
        drain_s=5,
        api={"auth": True},
        governance=NO_WINDOWS,
    )


def require_everything() -> bool:
    """CI (``GRACE_REQUIRE_ALL=1`` or ``CI=true``): a missing browser fails instead of skipping."""
    return os.environ.get("GRACE_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"


def risky_playbook(settle_s: float = 0.0) -> str:
    """The ``rotate_keys`` playbook, its middle step sleeping ``settle_s`` seconds."""
    return RISKY.replace("SETTLE", f"{settle_s:g}")


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
