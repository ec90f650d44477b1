"""The daemon end to end over HTTP: events, Alertmanager, the SDK, hot reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from grace.runs import RunStatus

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[2] / "fixtures"

ALERT_PLAYBOOK = """
name: on_instance_down
triggers:
  - type: alert
    pattern: 'InstanceDown'
steps:
  - name: note
    action: log
    with: {message: "{{ event.message }}"}
"""

MODULE_PLAYBOOK = """
name: missing_module
triggers:
  - type: exception
    pattern: "No module named '(?P<module>[\\\\w.]+)'"
steps:
  - name: note
    action: log
    with: {message: "missing {{ diagnosis.module }}"}
"""


async def test_alertmanager_firing_runs_and_resolved_twin_starts_nothing(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    run_daemon: Any,
    until: Any,
) -> None:
    """The Prometheus docs example fires one run; resends are duplicates; its resolved twin adds nothing."""
    write_playbook("on_instance_down", ALERT_PLAYBOOK)
    settings = daemon_settings()
    firing = json.loads((FIXTURES / "alertmanager" / "prometheus_docs_firing.json").read_text())
    resolved = json.loads((FIXTURES / "alertmanager" / "prometheus_docs_resolved.json").read_text())
    url = f"http://{settings.listen}/api/webhooks/alertmanager"
    async with run_daemon(settings) as daemon, httpx.AsyncClient() as client:
        store = daemon.engine.store
        assert (await client.post(url, json=firing)).status_code == 200
        runs = await until(
            lambda: [r for r in store.list_runs() if r.finished_at], what="a finished run"
        )
        assert [r.playbook for r in runs] == ["on_instance_down"]
        assert runs[0].status is RunStatus.SUCCEEDED
        again = (await client.post(url, json=firing)).json()  # Alertmanager repeats itself
        assert again["duplicates"] == len(firing["alerts"])
        assert (await client.post(url, json=resolved)).status_code == 200
        assert daemon.pipeline.counters.decisions["queued"] == 1
        assert len(store.list_runs()) == 1
        assert daemon.pipeline.counters.dropped == {}


async def test_sdk_exception_reaches_grace_once_even_when_grace_was_down(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    tmp_path: Path,
    run_daemon: Any,
    until: Any,
) -> None:
    """A real app raises ModuleNotFoundError('faiss'): one event, module=faiss captured; spooled
    while Grace is down and delivered exactly once when it is back."""
    write_playbook("missing_module", MODULE_PLAYBOOK)
    settings = daemon_settings()
    spool = tmp_path / "spool"
    app = [
        sys.executable,
        "-c",
        f"import grace.sdk as s; s.install(service='miner', url={f'http://{settings.listen}'!r}, "
        f"spool_dir={str(spool)!r}, timeout_s=1); import faiss",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    async with run_daemon(settings) as daemon:
        done = await _run(app, env)  # in a thread: the daemon shares this event loop
        assert "No module named 'faiss'" in done.stderr
        store = daemon.engine.store
        runs = await until(lambda: [r for r in store.list_runs() if r.finished_at], what="a run")
        assert runs[0].captures == {"module": "faiss"}
        assert runs[0].event["attributes"]["module"] == "faiss"
        assert store.count_events() == 1
    # Grace is down now: the app's report goes to the spool.
    done = await _run(app, env)
    assert any(spool.glob("spool-*.jsonl")), "the report was not spooled while Grace was down"
    async with run_daemon(settings) as daemon:
        deliver = [
            sys.executable,
            "-m",
            "grace.sdk.deliver",
            "--spool-dir",
            str(spool),
            "--url",
            f"http://{settings.listen}",
        ]
        for _ in range(2):  # delivering twice must not deliver twice
            await _run(deliver, env)
        store = daemon.engine.store
        await until(lambda: store.count_events() == 2, what="the spooled event")
        assert store.count_events() == 2
        # This daemon accepted the spooled report exactly once, however often it was sent.
        assert daemon.pipeline.counters.received["sdk:miner"] == 1
        assert all(not p.read_text().strip() for p in spool.glob("spool-*.jsonl"))


async def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import anyio

    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    )


async def test_hot_reload_keeps_previous_version_on_a_bad_edit(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    run_daemon: Any,
    until: Any,
) -> None:
    """An invalid edit is rejected and the previous version keeps running; a valid edit is picked up."""
    path = write_playbook("on_instance_down", ALERT_PLAYBOOK)
    settings = daemon_settings()
    async with run_daemon(settings) as daemon:
        engine = daemon.engine
        path.write_text(ALERT_PLAYBOOK.replace("action: log", "action: lgo"), encoding="utf-8")
        await until(lambda: engine.playbook_errors, what="the rejected edit")
        assert engine.playbooks["on_instance_down"].steps[0].action == "log"
        path.write_text(
            ALERT_PLAYBOOK.replace("version", "version").replace("name: note", "name: noted"),
            encoding="utf-8",
        )
        await until(
            lambda: engine.playbooks["on_instance_down"].steps[0].name == "noted",
            what="the valid edit",
        )
        assert not engine.playbook_errors
