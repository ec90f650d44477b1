"""Tier 1 in a real daemon: a dead or stalled component of ``grace serve`` is restarted in-process."""

from __future__ import annotations

import asyncio
import textwrap
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus
from watchdog_helpers import free_port

from grace.config import Settings
from grace.daemon import Daemon
from grace.store import open_store
from grace.testing import eventually, make_event
from grace.watchdog import Component, ComponentFailed, ComponentWatchdog, Heartbeats, WatchdogConfig

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

PLAYBOOK = """
name: note_it
version: 1.0.0
metadata:
  description: Note a request on the timeline
  risk_level: low
  autonomy_tier: 3
triggers:
  - type: log_message
    pattern: 'please note (?P<what>\\w+)'
steps:
  - name: note
    action: log
    with: {message: "noted {{ diagnosis.captures.what }}"}
"""


async def test_killed_runner_task_is_restarted_and_the_queued_run_completes(
    tmp_path: Path, database_url: str
) -> None:
    """Cancel the runner's task inside a real daemon; queue a run while it is dead; the
    watchdog restarts the runner (audited, counted) and the run succeeds."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "note_it.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / ".grace",
        log_dir=tmp_path / "logs",
        database_url=database_url,
        playbook_dirs=[playbooks],
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{free_port()}",
        watchdog=WatchdogConfig(check_s=0.1, heartbeat_s=0.2),
    )
    daemon = Daemon.create(settings)
    store = daemon.engine.store
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            assert daemon.watchdog is not None
            killed = daemon.watchdog.task("runner")
            killed.cancel()
            await asyncio.wait({killed})
            assert killed.cancelled()
            await daemon.pipeline.submit(
                make_event("please note this", id="evt_note_1", time=datetime.now(UTC))
            )
            runs = await eventually(
                lambda: [
                    r for r in store.list_runs(playbook="note_it") if r.status.value == "succeeded"
                ],
                what="the queued run to succeed",
            )
            restarted = daemon.watchdog.task("runner")
            rows = await eventually(
                lambda: (
                    {"grace.runner", "grace.api", "grace.sources", "grace.serve"}
                    <= set(store.last_beats())
                ),
                what="heartbeat rows",
            )
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
    assert rows
    assert restarted is not killed
    assert runs[0].captures["what"] == "this"
    assert daemon.pipeline.counters.component_restarts["runner"] == 1
    audit = _audit(database_url, "component:runner")
    assert [e.action for e in audit] == ["watchdog.component_restarted"]
    assert audit[0].payload["how"] == "its task was cancelled"


def _audit(database_url: str, subject: str) -> list[Any]:
    store = open_store(database_url)
    try:
        return store.audit_entries(subject=subject)
    finally:
        store.close()


async def _start_and_run(
    beats: Heartbeats,
    name: str,
    *,
    beat_for: float,
    crash: bool = False,
    task_status: TaskStatus[None],
) -> None:
    """A component that beats for ``beat_for`` seconds, then stalls (or crashes)."""
    task_status.started()
    deadline = time.monotonic() + beat_for
    while time.monotonic() < deadline:
        beats.beat(name)
        await anyio.sleep(0.02)
    if crash:
        msg = f"{name} broke"
        raise RuntimeError(msg)
    await anyio.sleep_forever()


async def test_a_stalled_component_is_cancelled_and_restarted(database_url: str) -> None:
    """A component that stops beating past its timeout is cancelled and started again."""
    store = open_store(database_url)
    beats = Heartbeats()
    starts: list[float] = []
    restarted = anyio.Event()

    async def run(*, task_status: TaskStatus[None]) -> None:
        starts.append(time.monotonic())
        if len(starts) == 2:
            restarted.set()
        await _start_and_run(beats, "worker", beat_for=0.2, task_status=task_status)

    config = WatchdogConfig(check_s=0.05, component_timeout_s=0.3)
    dog = ComponentWatchdog([Component("worker", run)], config=config, beats=beats, store=store)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(dog.run)
            first = dog.task("worker")
            with anyio.fail_after(20):
                await restarted.wait()
            tg.cancel_scope.cancel()
        assert first.cancelled()
        entries = store.audit_entries(subject="component:worker")
        assert entries[0].action == "watchdog.component_restarted"
        assert entries[0].payload["problem"] == "stalled"
        assert "no heartbeat for" in entries[0].payload["how"]
    finally:
        store.close()


async def test_a_crash_loop_gives_up_at_the_limit(database_url: str) -> None:
    """A component that keeps crashing is restarted up to the limit, then the watchdog raises
    ComponentFailed (grace serve exits and tier 2 restarts it whole), audited as fatal."""
    store = open_store(database_url)
    beats = Heartbeats()

    async def run(*, task_status: TaskStatus[None]) -> None:
        await _start_and_run(beats, "flaky", beat_for=0.0, crash=True, task_status=task_status)

    config = WatchdogConfig.model_validate(
        {
            "check_s": 0.02,
            "restart_limit": {"burst": 3, "window_s": 60},
            "backoff": {"initial_s": 0.01, "max_s": 0.05, "jitter": 0},
        }
    )
    dog = ComponentWatchdog([Component("flaky", run)], config=config, beats=beats, store=store)
    try:
        with pytest.raises(ComponentFailed, match="component flaky is down"), anyio.fail_after(30):
            await dog.run()
        actions = [e.action for e in store.audit_entries(subject="component:flaky")]
        assert actions == ["watchdog.component_restarted"] * 3 + ["watchdog.component_fatal"]
        assert dog.components["flaky"].status == "fatal"
    finally:
        store.close()
