"""``grace services``: acting directly with no daemon, and through a running supervisor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
import yaml
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

from grace.cli import main

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


def _config(harness: Harness, tmp_path: Path, services: list[dict[str, Any]]) -> Path:
    path = tmp_path / "grace.yaml"
    url = harness.store.engine.url.render_as_string(hide_password=False)
    settings = {
        "data_dir": str(harness.data_dir),
        "log_dir": str(harness.log_dir),
        "database_url": url,
        "services": services,
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _grace(config: Path, *argv: str) -> tuple[int, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", str(config), *argv])
    text = out.getvalue()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


def test_start_list_logs_stop_without_a_daemon(harness: Harness, tmp_path: Path) -> None:
    """No daemon: the command starts and stops the service itself; list and logs read files."""
    port = free_port()
    config = _config(harness, tmp_path, [http_service("web", port)])
    code, started = _grace(config, "services", "start", "web", "--as", "alice", "--json")
    assert code == 0, started
    assert started["via"].startswith("directly")
    pid = started["services"][0]["pid"]
    assert psutil.pid_exists(pid)
    code, rows = _grace(config, "services", "list", "--json")
    assert [(r["name"], r["status"], r["pid"]) for r in rows] == [("web", "running", pid)]
    code, text = _grace(config, "services", "logs", "web")
    assert code == 0
    assert f"listening on {port}" in text
    code, stopped = _grace(config, "services", "stop", "--all", "--json")
    assert code == 0
    assert stopped["services"][0]["status"] == "stopped"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    actions = harness.actions("web")
    assert actions == ["service.started", "service.stopped"]
    assert harness.store.audit_entries(subject="service:web")[0].actor == "alice"


def test_unknown_service_is_a_clear_error(harness: Harness, tmp_path: Path) -> None:
    """A misspelt name: exit 2 with a suggestion."""
    config = _config(harness, tmp_path, [http_service("web", free_port())])
    assert main(["--config", str(config), "services", "start", "wbe"]) == 2


async def test_requests_reach_a_running_supervisor(harness: Harness, tmp_path: Path) -> None:
    """With a supervisor running, stop and restart go through the store and are carried out
    by it (the stopped service is not restarted behind the operator's back)."""
    port = free_port()
    service = http_service("web", port)
    config = _config(harness, tmp_path, [service])
    async with harness.running([service]):
        first = int(await eventually(lambda: http_get(port)))
        code, out = await anyio.to_thread.run_sync(
            lambda: _grace(config, "services", "restart", "web", "--json")
        )
        assert code == 0, out
        assert out["via"] == "grace serve"
        second = out["services"][0]["pid"]
        assert second != first
        assert int(await eventually(lambda: http_get(port))) == second
        code, out = await anyio.to_thread.run_sync(
            lambda: _grace(config, "services", "stop", "web", "--json")
        )
        assert code == 0, out
        assert out["services"][0]["status"] == "stopped"
        await anyio.sleep(0.3)
        assert http_get(port) is None
    actions = harness.actions("web")
    assert actions.count("service.requested") == 2
    assert actions[-1] == "service.stopped"
