"""A real ``grace execute`` process is SIGKILLed mid-step; the next start notices and records it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from grace.runs import RunStatus, StepStatus
from grace.store import open_store

pytestmark = pytest.mark.slow


def _wait_for_started_step(url: str, step: str, proc: Any, timeout: float = 30) -> str:
    store = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"grace exited early: {proc.communicate()}"
            for run in store.list_runs(active=True):
                for attempt in store.step_attempts(run.id):
                    if attempt.step == step and attempt.status is StepStatus.STARTED:
                        return run.id
            time.sleep(0.05)
    finally:
        store.close()
    raise AssertionError(f"step {step!r} never started")


def _kill_during_step(grace: Any, playbook: str, step: str) -> str:
    """Start `grace execute PLAYBOOK` as a real process and SIGKILL it once STEP has started."""
    proc = grace.spawn("execute", playbook)
    try:
        run_id = _wait_for_started_step(grace.env["GRACE_DATABASE_URL"], step, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    return run_id


def test_sigkill_mid_step_leaves_run_interrupted(grace: Any) -> None:
    """SIGKILL during a non-idempotent step: after restart the run is interrupted, last step named."""
    grace.write(
        "long_job",
        """
        name: long_job
        steps:
          - name: first
            action: log
            with: {message: "first step done"}
          - name: nap
            action: shell
            with: {argv: ["sleep", "60"]}
          - name: after
            action: log
            with: {message: "must not run"}
        """,
    )
    grace.write(
        "quick", "name: quick\nsteps:\n  - {name: hello, action: log, with: {message: hi}}\n"
    )
    run_id = _kill_during_step(grace, "long_job", "nap")

    # Restart: the next grace start finds the orphan (owner pid is dead) and records it.
    done = grace.run_process("execute", "quick")
    assert done.returncode == 0, done.stderr
    shown = grace.run_process("runs", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["status"] == RunStatus.INTERRUPTED.value
    assert record["last_completed_step"] == "first"
    assert "nap" in record["error"]
    assert "not idempotent" in record["error"]
    steps = {(s["step"], s["status"]) for s in record["steps"]}
    assert ("first", "succeeded") in steps
    assert ("nap", "interrupted") in steps
    assert not any(s["step"] == "after" for s in record["steps"])
    # Its human-readable timeline too.
    text = grace.run_process("runs", "show", run_id)
    assert "interrupted" in text.stdout
    assert "first" in text.stdout


def test_sigkill_before_idempotent_steps_resumes(grace: Any, tmp_path: Path) -> None:
    """SIGKILL while every remaining step is idempotent: the next start resumes and finishes the run."""
    flag = tmp_path / "ready"
    grace.write(
        "resumable",
        f"""
        name: resumable
        steps:
          - name: first
            action: log
            with: {{message: "first"}}
          - name: wait_for_flag
            action: wait.until
            with: {{file: "{flag}", timeout_s: 60, interval_s: 0.05}}
            timeout_s: 120
          - name: last
            action: log
            with: {{message: "done"}}
        """,
    )
    grace.write(
        "quick", "name: quick\nsteps:\n  - {name: hello, action: log, with: {message: hi}}\n"
    )
    run_id = _kill_during_step(grace, "resumable", "wait_for_flag")
    flag.write_text("go")
    done = grace.run_process("execute", "quick")
    assert done.returncode == 0, done.stderr
    record = json.loads(grace.run_process("runs", "show", run_id, "--json").stdout)
    assert record["status"] == RunStatus.SUCCEEDED.value
    attempts = [(s["step"], s["attempt"], s["status"]) for s in record["steps"]]
    assert ("wait_for_flag", 1, "interrupted") in attempts
    assert ("wait_for_flag", 2, "succeeded") in attempts
    assert ("last", 1, "succeeded") in attempts
    store = open_store(grace.env["GRACE_DATABASE_URL"])
    try:  # taken over once: one claim, one fence bump, one audit entry
        resumed = store.audit_entries(subject=run_id, action="run.resumed")
    finally:
        store.close()
    assert len(resumed) == 1
