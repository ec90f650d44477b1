"""A supervised service's crash is an event a playbook reacts to: a run with its timeline."""

from __future__ import annotations

import os
import signal
import textwrap
from functools import partial
from pathlib import Path

import anyio
import pytest
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

from grace.config import Settings
from grace.daemon import Daemon

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

PLAYBOOK = """
name: on_web_crash
version: 1.0.0
metadata:
  description: React to the supervisor's crash events for web
  risk_level: low
  autonomy_tier: 3
triggers:
  - type: health
    service: web
    pattern: 'service web exited: (?P<how>.+)'
steps:
  - name: note
    action: log
    with: {message: "web crashed: {{ diagnosis.captures.how }}"}
"""


async def test_a_crash_event_starts_a_playbook_run(harness: Harness, tmp_path: Path) -> None:
    """In ``grace serve``: kill -9 of a service → supervisor event → matched → run succeeded."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "on_web_crash.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    port = free_port()
    settings = Settings(
        data_dir=harness.data_dir,
        log_dir=harness.log_dir,
        database_url=harness.store.engine.url.render_as_string(hide_password=False),
        playbook_dirs=[playbooks],
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{free_port()}",
        services=[http_service("web", port)],
    )
    daemon = Daemon.create(settings)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            pid = int(await eventually(lambda: http_get(port), within=20))
            os.kill(pid, signal.SIGKILL)
            runs = await eventually(
                lambda: [
                    r
                    for r in harness.store.list_runs(playbook="on_web_crash")
                    if r.status.value == "succeeded"
                ],
                within=20,
                what="a succeeded run",
            )
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
    assert runs[0].event["source"] == "supervisor"
    assert runs[0].event["attributes"]["reason"] == "crash"
    assert runs[0].captures["how"] == "killed by SIGKILL"
