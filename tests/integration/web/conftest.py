"""Fixtures for the dashboard tests: a real engine with auth on, clients asking for pages as a
browser does, and Debian's Chromium for the browser test (helpers: ``dashboard_support``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import (
    CHROMIUM,
    CLEAN,
    NO_WINDOWS,
    require_everything,
    risky_playbook,
)

from grace.api import create_app
from grace.config import Settings
from grace.engine import Engine
from grace.testing import FakeClock, SequentialIds, StoreIngest


@pytest.fixture
def web_engine(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> Iterator[Engine]:
    """An engine (execute mode, change windows off) over ``rotate_keys`` (needs approval) and
    ``clear_cache`` (runs at once), with one rejected file; on a fake clock, ids in order."""
    write_playbook("rotate", risky_playbook())
    write_playbook("clear", CLEAN)
    write_playbook("broken", "name: broken\nsteps:\n  - name: x\n    action: no.such_action\n")
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        log_dir=tmp_path / "logs",
        bundled_playbooks=False,
        mode="execute",
        governance=NO_WINDOWS,
    )
    engine = Engine(settings, clock=FakeClock(), ids=SequentialIds())
    yield engine
    engine.close()


@pytest.fixture
def web_app(web_engine: Engine) -> Any:
    """The whole app (API and dashboard) with auth on."""
    return create_app(StoreIngest(web_engine.store), engine=web_engine)


@pytest.fixture
async def browser_client(web_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that asks for pages as a browser does (``Accept: text/html``), not logged in."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app, raise_app_exceptions=False),
        base_url="http://grace.test",
        headers={"Accept": "text/html,application/xhtml+xml"},
    ) as client:
        yield client


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (Playwright's own browser download does not work here), or skip
    (fail in CI, where ``.ci/run`` installs it)."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: apt-get install -y chromium"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed: pip install -e '.[dev]'"
    if problem is not None:
        if require_everything():
            pytest.fail(f"{problem} (CI must provide it)")
        pytest.skip(problem)
    return CHROMIUM
