"""``service.restart`` / ``service.stop`` / ``service.start`` from a playbook, through a real
``grace serve`` supervisor: the service really gets a new pid and answers again."""

from __future__ import annotations

import json
import textwrap
from functools import partial
from pathlib import Path

import anyio
import pytest
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

from grace.config import Settings
from grace.daemon import Daemon
from grace.runs import RunStatus

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

PLAYBOOK = """
name: bounce_web
version: 1.0.0
metadata:
  description: Restart web, check it answers, stop it, start it again
  risk_level: low
  autonomy_tier: 3
triggers:
  - type: manual
steps:
  - name: restart
    action: service.restart
    with: {service: web, timeout_s: 20}
  - name: check
    action: http.check
    retries: 20
    with: {url: "http://127.0.0.1:{{ vars.port }}/health"}
  - name: stop
    action: service.stop
    with: {service: web, timeout_s: 20}
  - name: start
    action: service.start
    with: {service: web, timeout_s: 20}
"""


def _settings(harness: Harness, playbooks: Path, port: int) -> Settings:
    return Settings(
        data_dir=harness.data_dir,
        log_dir=harness.log_dir,
        database_url=harness.store.engine.url.render_as_string(hide_password=False),
        playbook_dirs=[playbooks],
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{free_port()}",
        services=[http_service("web", port)],
    )


async def test_a_playbook_restarts_stops_and_starts_a_supervised_service(
    harness: Harness, tmp_path: Path
) -> None:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "bounce_web.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    port = free_port()
    daemon = Daemon.create(_settings(harness, playbooks, port))
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            first = int(await eventually(lambda: http_get(port), within=20, what="web answers"))
            await eventually(lambda: harness.store.last_beats().get("grace.supervisor"), within=10)
            run = await daemon.engine.execute("bounce_web", vars={"port": port})
            after = int(await eventually(lambda: http_get(port), within=20, what="web again"))
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
    assert run.status is RunStatus.SUCCEEDED, run.error
    restarted = run.outputs["restart"]
    assert restarted["previous_pid"] == first
    assert restarted["pid"] != first
    assert run.outputs["stop"]["status"] == "stopped"
    assert run.outputs["start"]["status"] == "running"
    assert after == run.outputs["start"]["pid"]
    requests = [
        e
        for e in harness.store.audit_entries(subject="service:web")
        if e.action == "service.requested"
    ]
    assert [json.loads(e.payload_json)["action"] for e in requests] == ["restart", "stop", "start"]
    assert all(e.actor == f"run:{run.id}" for e in requests)


async def test_without_grace_serve_the_step_says_so(harness: Harness, tmp_path: Path) -> None:
    """No supervisor heartbeat: the step fails with a clear reason, nothing is started."""
    from grace.engine import Engine

    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "bounce_web.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    port = free_port()
    engine = Engine(_settings(harness, playbooks, port))
    try:
        run = await engine.execute("bounce_web", vars={"port": port})
    finally:
        engine.close()
    assert run.status is RunStatus.FAILED
    assert "no grace serve supervisor is running" in (run.error or "")
    assert http_get(port) is None
