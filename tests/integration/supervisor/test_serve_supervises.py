"""``grace serve`` with ``services:``: supervised, events in the pipeline, adopted after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

from grace.store._tables import events as events_table

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]


def _serve(harness: Harness, tmp_path: Path, services: list[dict[str, Any]]) -> list[str]:
    path = tmp_path / "grace.yaml"
    settings = {
        "data_dir": str(harness.data_dir),
        "log_dir": str(harness.log_dir),
        "database_url": harness.store.engine.url.render_as_string(hide_password=False),
        "bundled_playbooks": False,
        "listen": f"127.0.0.1:{free_port()}",
        "services": services,
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return [sys.executable, "-m", "grace", "--config", str(path), "serve"]


def _supervisor_events(harness: Harness) -> list[tuple[str, str]]:
    with harness.store.engine.connect() as conn:
        rows = conn.execute(
            select(events_table.c.kind, events_table.c.message).where(
                events_table.c.source == "supervisor"
            )
        ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


async def test_serve_killed_and_restarted_adopts_its_services(
    harness: Harness, tmp_path: Path
) -> None:
    """kill -9 of grace serve: the service keeps running; the next serve adopts it (same pid,
    never started twice), and a crash it then sees becomes a health event in the pipeline."""
    port = free_port()
    argv = _serve(harness, tmp_path, [http_service("web", port, reset_after_s=0.2)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    first_serve = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        pid = int(await eventually(lambda: http_get(port), within=40, what="service up"))
        # The start is audited off the restart path (after the spawn): let it land before the
        # kill, or a kill in that moment leaves no 'service.started' to count below.
        await eventually(
            lambda: "service.started" in harness.actions("web"), within=20, what="start audited"
        )
    finally:
        first_serve.kill()
        first_serve.wait()
    assert http_get(port) == str(pid)
    second_serve = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await eventually(
            lambda: "service.adopted" in harness.actions("web"), within=40, what="adopted"
        )
        assert http_get(port) == str(pid)
        assert harness.actions("web").count("service.started") == 1
        os.kill(pid, signal.SIGKILL)
        await eventually(
            lambda: (b := http_get(port)) and b != str(pid), within=30, what="restarted"
        )
        await eventually(
            # Not our child any more (adopted): its exit is seen through the pidfd, the status
            # is not (only a parent can reap it).
            lambda: any(m.startswith("service web exited") for _, m in _supervisor_events(harness)),
            within=30,
            what=f"the crash event: {_supervisor_events(harness)}",
        )
    finally:
        second_serve.send_signal(signal.SIGTERM)
        second_serve.wait(timeout=30)
    kinds = {k for k, _ in _supervisor_events(harness)}
    assert kinds == {"health"}
