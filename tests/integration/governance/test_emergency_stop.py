"""Emergency stop from another process, during a running multi-step run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from grace.config import Settings
from grace.engine import Engine, RunRefused
from grace.governance import DecisionKind
from grace.runs import RunStatus, StepPhase, StepStatus
from grace.testing import decider_for, make_event

pytestmark = pytest.mark.anyio

THREE_STEPS = """
name: rebuild_index
metadata: {risk_level: low, autonomy_tier: 3}
triggers:
  - type: log_message
    pattern: "index (?P<index>\\\\w+) is corrupt"
steps:
  - name: snapshot
    action: file.write
    with: {path: "{dir}/snapshot", content: "taken"}
    backup: false
  - name: rebuild
    action: shell
    with: {argv: ["{py}", "-c", "import time; open('{dir}/started','w').close(); time.sleep(60)"]}
    timeout_s: 120
  - name: verify
    action: file.write
    with: {path: "{dir}/verified", content: "yes"}
    backup: false
recovery:
  on_failure:
    - name: restore
      action: file.write
      with: {path: "{dir}/restored", content: "from snapshot"}
      backup: false
"""


def _grace(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``grace`` command in its own process."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from grace.cli import main; sys.exit(main(sys.argv[1:]))",
        "--data-dir",
        str(settings.data_dir),
        "--database-url",
        settings.effective_database_url,
        *args,
    ]
    env = {**os.environ, "GRACE_BUNDLED_PLAYBOOKS": "false", "GRACE_LOG_DIR": str(settings.log_dir)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)


async def test_emergency_stop_aborts_the_running_run_through_recovery(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> None:
    """Step 2 is cancelled, on_failure recovery runs, the run ends ``aborted``; new events and
    manual runs are refused with ``emergency_stop``; ``grace resume`` lets them through again."""
    work = tmp_path / "work"
    work.mkdir()
    text = THREE_STEPS.replace("{dir}", str(work)).replace("{py}", sys.executable)
    write_playbook("rebuild_index", text)
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        mode="execute",
        governance={"change_windows": {"enabled": False}},
    )
    with Engine(settings) as engine:
        run = engine.new_run("rebuild_index", requested_by="alice")
        assert run.status is RunStatus.QUEUED
        async with anyio.create_task_group() as tg:
            finals: list[object] = []

            async def drive() -> None:
                finals.append(await engine.runner.execute(run.id))

            tg.start_soon(drive)
            with anyio.fail_after(30):
                while not (work / "started").exists():  # noqa: ASYNC110 - a file, not a task
                    await anyio.sleep(0.05)
            stopped = await anyio.to_thread.run_sync(
                lambda: _grace(
                    settings, "stop", "--emergency", "--reason", "bad deploy", "--as", "sre"
                )
            )
            assert stopped.returncode == 0, stopped.stderr
            with anyio.fail_after(10):  # far less than the 60 s the step would take
                while not finals:  # noqa: ASYNC110 - polled briefly
                    await anyio.sleep(0.05)
        final = engine.store.get_run(run.id)
        assert final.status is RunStatus.ABORTED
        assert final.error is not None
        assert "emergency_stop by sre: bad deploy" in final.error
        attempts = {(a.step, a.phase): a.status for a in engine.store.step_attempts(run.id)}
        assert attempts == {
            ("snapshot", StepPhase.MAIN): StepStatus.SUCCEEDED,
            ("rebuild", StepPhase.MAIN): StepStatus.CANCELLED,
            ("restore", StepPhase.ON_FAILURE): StepStatus.SUCCEEDED,
        }
        assert (work / "restored").read_text() == "from snapshot"
        assert not (work / "verified").exists()

        # New events are refused, with the reason.
        decider = decider_for(engine)
        event = make_event("index users is corrupt", id="evt_after", time=datetime.now(UTC))
        engine.store._stop_cache = None  # the stop came from another process just now
        [outcome] = decider.decide(event)
        assert outcome.decision.kind is DecisionKind.BLOCKED
        assert outcome.decision.guard == "emergency_stop"
        assert outcome.decision.reason.startswith("emergency_stop: set by sre")
        assert outcome.run_id is None
        with pytest.raises(RunRefused, match="emergency_stop"):
            engine.new_run("rebuild_index", requested_by="alice")
        blocked = engine.store.audit_entries(action="decision.blocked")
        assert [e.actor for e in blocked] == ["engine", "alice"]  # the event, the manual request
        assert all(e.payload["reason"].startswith("emergency_stop") for e in blocked)

        resumed = await anyio.to_thread.run_sync(lambda: _grace(settings, "resume", "--as", "sre"))
        assert resumed.returncode == 0, resumed.stderr
        engine.store._stop_cache = None
        again = make_event("index orders is corrupt", id="evt_resumed", time=datetime.now(UTC))
        [outcome] = decider.decide(again)
        assert outcome.decision.kind is DecisionKind.QUEUED
        kinds = [e.action for e in engine.store.audit_entries(subject="emergency_stop")]
        assert kinds == ["control.emergency_stop", "control.resumed"]
