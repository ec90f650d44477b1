"""Fixtures for the read and operations API tests: a real engine on a fake clock with
sequential ids, its app through ``httpx.ASGITransport``, and a way to record finished runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from grace.api import create_app
from grace.config import Settings
from grace.engine import Engine
from grace.runs import Run, RunStatus, StepPhase, StepStatus
from grace.store import Store
from grace.testing import FakeClock, SequentialIds, StoreIngest

RESTART = """
name: restart_worker
priority: high
metadata:
  description: Restart the worker
  risk_level: low
  autonomy_tier: 2
triggers:
  - type: log_message
    pattern: 'worker stuck'
  - type: manual
steps:
  - name: stop
    action: log
    with: {message: "stopping"}
  - name: start
    action: log
    with: {message: "starting"}
"""
PURGE = """
name: purge_queue
metadata:
  risk_level: critical
  autonomy_tier: 1
  auto_trigger: false
steps:
  - name: purge
    action: log
    with: {message: "purging"}
"""

RecordRun = Callable[..., Run]


def api_client_for(engine: Engine | None, store: Store) -> httpx.AsyncClient:
    """A client on an app over ``engine`` (None: an app without an engine), auth off: the
    request body names who acts (tests/integration/api/test_auth.py covers tokens)."""
    app = create_app(StoreIngest(store), engine=engine, auth=False)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://grace.test",
    )


@pytest.fixture
def clock() -> FakeClock:
    """The engine's clock: 2026-01-01 12:00 UTC until a test moves it."""
    return FakeClock()


@pytest.fixture
def api_engine(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
    clock: FakeClock,
) -> Iterator[Engine]:
    """An engine (execute mode, change windows off) over ``restart_worker`` and
    ``purge_queue``, with one rejected file (``broken.yaml``)."""
    write_playbook("restart", RESTART)
    write_playbook("purge", PURGE)
    write_playbook("broken", "name: broken\nsteps:\n  - name: x\n    action: no.such_action\n")
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        log_dir=tmp_path / "logs",
        bundled_playbooks=False,
        mode="execute",
        governance={"change_windows": {"enabled": False}},
    )
    engine = Engine(settings, clock=clock, ids=SequentialIds())
    yield engine
    engine.close()


@pytest.fixture
def make_app(api_engine: Engine) -> Callable[..., Any]:
    """``make_app(**kwargs)``: an app over ``api_engine`` (auth on unless ``auth=False``)."""

    def make(**kwargs: Any) -> Any:
        return create_app(StoreIngest(api_engine.store), engine=api_engine, **kwargs)

    return make


@pytest.fixture
async def api_client(api_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app serving ``api_engine``."""
    async with api_client_for(api_engine, api_engine.store) as c:
        yield c


@pytest.fixture
async def bare_client(api_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app built without an engine (its engine routes answer 503)."""
    async with api_client_for(None, api_engine.store) as c:
        yield c


@pytest.fixture
def record_run(api_engine: Engine, clock: FakeClock) -> RecordRun:
    """Record a run of ``playbook`` through the store: claimed, each ``(step, seconds,
    status)`` attempt begun and finished ``seconds`` later, then ``final`` (None: left running).
    The clock moves one second before the run is created."""

    def record(
        playbook: str,
        steps: Sequence[tuple[str, float, StepStatus]] = (),
        final: RunStatus | None = RunStatus.SUCCEEDED,
        **kwargs: Any,
    ) -> Run:
        store = api_engine.store
        clock.advance(1)
        run = api_engine.new_run(playbook, status=RunStatus.QUEUED, **kwargs)
        run = store.claim_run(run.id, owner="test", lease_s=600)
        for index, (step, seconds, status) in enumerate(steps):
            attempt = store.begin_step(
                run.id,
                fence=run.fence,
                step=step,
                phase=StepPhase.MAIN,
                index=index,
                attempt=1,
                action="log",
                params={"message": step},
            )
            clock.advance(seconds)
            store.finish_step(
                attempt,
                fence=run.fence,
                status=status,
                outputs={"ok": status is StepStatus.SUCCEEDED},
                error=None if status is StepStatus.SUCCEEDED else f"{step} failed",
                completed=status is StepStatus.SUCCEEDED,
            )
        if final is None:
            return store.get_run(run.id)
        error = None if final is RunStatus.SUCCEEDED else "it broke"
        return store.finish_run(run.id, fence=run.fence, status=final, error=error)

    return record
