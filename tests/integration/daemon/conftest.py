"""A real daemon (pipeline, sources, HTTP intake on a free port) inside the test's event loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.config import Settings
from grace.testing import free_port, serving


@pytest.fixture
def daemon_settings(
    tmp_path: Path, database_url: str, playbook_dir: Path
) -> Callable[..., Settings]:
    """Settings for a daemon in execute mode on a free port; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / ".grace",
            "database_url": database_url,
            "playbook_dirs": [playbook_dir],
            "log_dir": tmp_path / "logs",
            "bundled_playbooks": False,
            "mode": "execute",
            "listen": f"127.0.0.1:{free_port()}",
            "drain_s": 5,
            # Requests name who acts; test_daemon_auth.py serves with tokens.
            "api": {"auth": False},
        }
        values.update(overrides)
        return Settings(**values)

    return make


async def wait_for(
    predicate: Callable[[], Any], seconds: float = 20, what: str = "condition"
) -> Any:
    """Poll ``predicate`` (run in a thread: it may touch the database) until truthy."""
    with anyio.fail_after(seconds):
        while True:
            value = await anyio.to_thread.run_sync(predicate)
            if value:
                return value
            await anyio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - fail_after raises first


@pytest.fixture
def run_daemon() -> Callable[[Settings], Any]:
    """``async with run_daemon(settings) as daemon:`` — a daemon for the block's duration."""
    return serving


@pytest.fixture
def until() -> Callable[..., Any]:
    """``await until(predicate, seconds=…, what=…)`` — poll until the predicate holds."""
    return wait_for
