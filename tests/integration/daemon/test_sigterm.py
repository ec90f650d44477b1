"""`grace serve` as a real process: SIGTERM drains in-flight runs, then records the rest interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from grace.store import open_store

pytestmark = pytest.mark.slow

PLAYBOOK = """
name: slow_fix
triggers:
  - type: log_message
    pattern: 'needs (?P<seconds>\\d+)s'
steps:
  - name: first
    action: log
    with: {message: "starting"}
  - name: work
    action: shell
    with: {argv: ["sleep", "{{ diagnosis.seconds }}"]}
    timeout_s: 120
"""


GRACE = [sys.executable, "-m", "grace"]


def _env(tmp_path: Path, database_url: str, drain_s: float) -> dict[str, str]:
    return {
        **os.environ,
        "GRACE_DATA_DIR": str(tmp_path / ".grace"),
        "GRACE_DATABASE_URL": database_url,
        "GRACE_PLAYBOOK_DIRS": str(tmp_path / "playbooks"),
        "GRACE_LOG_DIR": str(tmp_path / "logs"),
        "GRACE_BUNDLED_PLAYBOOKS": "false",
        "GRACE_MODE": "execute",
        "GRACE_DRAIN_S": str(drain_s),
    }


def _operator_token(tmp_path: Path, database_url: str) -> str:
    """A real token, made the way an operator makes one: ``grace token create``."""
    done = subprocess.run(
        [*GRACE, "token", "create", "--role", "operator", "--name", "sigterm-test", "--json"],
        env=_env(tmp_path, database_url, 1),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    return str(json.loads(done.stdout)["secret"])


def _serve(tmp_path: Path, database_url: str, port: int, drain_s: float) -> subprocess.Popen[str]:
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks" / "slow_fix.yaml").write_text(PLAYBOOK)
    env = _env(tmp_path, database_url, drain_s)
    proc = subprocess.Popen(
        [sys.executable, "-m", "grace", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"grace serve did not start: {proc.communicate()}")


def _post(port: int, message: str, token: str) -> None:
    body = {"kind": "log", "severity": "error", "message": message, "service": "api"}
    url = f"http://127.0.0.1:{port}/api/events"
    assert httpx.post(url, json=body, timeout=5).status_code == 401  # the real server checks
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, json=body, headers=auth, timeout=5).status_code == 202


def _wait_step(database_url: str, step: str) -> str:
    store = open_store(database_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for run in store.list_runs(active=True):
                if any(a.step == step for a in store.step_attempts(run.id)):
                    return run.id
            time.sleep(0.05)
    finally:
        store.close()
    raise AssertionError(f"step {step} never started")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_lets_a_short_run_finish(tmp_path: Path, database_url: str) -> None:
    """A run that ends within the drain period finishes `succeeded`; the process exits 0."""
    port = _free_port()
    proc = _serve(tmp_path, database_url, port, drain_s=20)
    try:
        _post(port, "worker needs 1s to recover", _operator_token(tmp_path, database_url))
        run_id = _wait_step(database_url, "work")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    store = open_store(database_url)
    try:
        assert store.get_run(run_id).status.value == "succeeded"
    finally:
        store.close()


def test_sigterm_interrupts_what_outlives_the_drain(tmp_path: Path, database_url: str) -> None:
    """A run longer than the drain period is cancelled mid-step and recorded `interrupted`."""
    port = _free_port()
    proc = _serve(tmp_path, database_url, port, drain_s=0.5)
    try:
        _post(port, "worker needs 60s to recover", _operator_token(tmp_path, database_url))
        run_id = _wait_step(database_url, "work")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
    store = open_store(database_url)
    try:
        run = store.get_run(run_id)
        assert run.status.value == "interrupted"
        assert run.last_completed_step == "first"
        statuses = {a.step: a.status.value for a in store.step_attempts(run_id)}
        assert statuses["work"] in ("cancelled", "interrupted")
        assert "Grace stopped" in (run.error or "")
    finally:
        store.close()
    record: Any = json.loads((tmp_path / "logs" / "grace.jsonl").read_text().splitlines()[-1])
    assert record["subsystem"] in ("daemon", "runner", "pipeline")
