"""A playbook's run, end to end, on a real database with real processes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grace.engine import Engine
from grace.runs import RunStatus, StepPhase, StepStatus

pytestmark = pytest.mark.anyio

FLAKY = """
name: flaky_then_fine
version: 1.2.0
steps:
  - name: prepare
    action: log
    with: {message: "starting"}
  - name: flaky
    action: shell
    with:
      argv: ["{py}", "-c", "{code}", "{counter}"]
    retries: 3
    retry_delay_s: 0.01
"""
# Fails on its first two runs, succeeds on the third: a real process keeping count in a file.
COUNT_CODE = (
    "import sys,pathlib;p=pathlib.Path(sys.argv[1]);n=int(p.read_text() or 0) if p.exists() else 0;"
    "p.write_text(str(n+1));sys.exit(0 if n+1>=3 else 1)"
)


async def test_step_failing_twice_then_succeeding(
    write_playbook: Callable[[str, str], Path], make_engine: Callable[[], Engine], tmp_path: Path
) -> None:
    """A second step that fails twice then succeeds: run succeeded, three attempts recorded."""
    counter = tmp_path / "count"
    write_playbook(
        "flaky",
        FLAKY.replace("{py}", sys.executable)
        .replace("{code}", COUNT_CODE)
        .replace("{counter}", str(counter)),
    )
    engine = make_engine()
    run = await engine.execute("flaky_then_fine")
    assert run.status is RunStatus.SUCCEEDED, run.error
    attempts = [a for a in engine.store.step_attempts(run.id) if a.step == "flaky"]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.status for a in attempts] == [
        StepStatus.FAILED,
        StepStatus.FAILED,
        StepStatus.SUCCEEDED,
    ]
    assert all(a.duration_ms is not None and a.duration_ms >= 0 for a in attempts)
    assert counter.read_text() == "3"
    assert run.last_completed_step == "flaky"


async def test_shell_value_is_one_literal_argument(
    write_playbook: Callable[[str, str], Path], make_engine: Callable[[], Engine], tmp_path: Path
) -> None:
    """A templated value with shell metacharacters reaches the process as one argument; nothing is executed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    write_playbook(
        "echoer",
        """
        name: echoer
        steps:
          - name: echo
            action: shell
            with:
              argv: ["echo", "{{ vars.payload }}"]
          - name: via_sh
            action: shell
            with:
              argv: ["sh", "-c", 'printf "%s" "$1"', "sh", "{{ vars.payload }}"]
        """,
    )
    engine = make_engine()
    payload = f"x; rm -rf {victim}"
    run = await engine.execute("echoer", vars={"payload": payload})
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert (victim / "precious").read_text() == "keep me"
    outputs = {a.step: a.outputs for a in engine.store.step_attempts(run.id)}
    assert outputs["echo"]["stdout"].strip() == payload
    assert outputs["via_sh"]["stdout"] == payload


async def test_failure_runs_recovery_and_opens_ticket(
    write_playbook: Callable[[str, str], Path], make_engine: Callable[[], Engine]
) -> None:
    """A failing step stops the run; on_failure recovery runs and files a ticket; status rolled_back."""
    write_playbook(
        "breaks",
        """
        name: breaks
        steps:
          - name: fail
            action: shell
            with: {argv: ["false"]}
          - name: never
            action: log
            with: {message: "must not run"}
        recovery:
          on_failure:
            - action: ticket.open
              with: {title: "breaks failed: {{ steps.fail.error }}", severity: error}
        """,
    )
    engine = make_engine()
    run = await engine.execute("breaks")
    assert run.status is RunStatus.ROLLED_BACK
    steps = engine.store.step_attempts(run.id)
    assert [s.step for s in steps] == ["fail", "on_failure_1"]
    assert steps[1].phase is StepPhase.ON_FAILURE
    tickets = engine.store.list_tickets()
    assert len(tickets) == 1
    assert tickets[0].run_id == run.id
    assert "exit" in tickets[0].title


async def test_run_deadline_times_out_and_records_learning(
    write_playbook: Callable[[str, str], Path], make_engine: Callable[[], Engine]
) -> None:
    """A run past its deadline is cancelled mid-step and recorded timed_out, with a learning record."""
    write_playbook(
        "slow",
        """
        name: slow
        timeout_min: 0.01
        steps:
          - name: nap
            action: shell
            with: {argv: ["sleep", "30"]}
        """,
    )
    engine = make_engine()
    run = await engine.execute("slow")
    assert run.status is RunStatus.TIMED_OUT
    (attempt,) = engine.store.step_attempts(run.id)
    assert attempt.status is StepStatus.CANCELLED
    actions = [e.action for e in engine.store.audit_entries(subject=run.id)]
    assert "learning.outcome" in actions
    assert actions[-1] == "run.timed_out"


async def test_backoff_uses_the_injected_clock(
    write_playbook: Callable[[str, str], Path], settings: Any
) -> None:
    """Retry waits go through the injected clock: exponential, jittered, and recorded in order."""
    from grace.testing import FakeClock

    write_playbook(
        "always_fails",
        """
        name: always_fails
        steps:
          - name: nope
            action: shell
            with: {argv: ["false"]}
            retries: 3
            retry_delay_s: 10
            retry_max_delay_s: 25
        """,
    )
    clock = FakeClock()
    engine = Engine(settings, clock=clock)
    try:
        run = await engine.execute("always_fails")
        assert run.status is RunStatus.FAILED
        attempts = engine.store.step_attempts(run.id)
        assert [a.attempt for a in attempts] == [1, 2, 3, 4]
        assert len(clock.sleeps) == 3
        for got, nominal in zip(clock.sleeps, [10, 20, 25], strict=True):
            assert nominal * 0.5 <= got <= nominal
        # Timestamps come from the same clock: the attempts are spread by the waits.
        # Each of the three waits lands on a datetime rounded to the microsecond
        # (timedelta's resolution), so the spread may differ by up to 3 x 0.5 us.
        spread = (attempts[-1].started_at - attempts[0].started_at).total_seconds()
        assert spread == pytest.approx(sum(clock.sleeps), abs=2e-6)
    finally:
        engine.close()


async def test_template_error_fails_step_with_location(
    write_playbook: Callable[[str, str], Path], make_engine: Callable[[], Engine]
) -> None:
    """A template that fails at run time fails its step (no retries) and names file:line."""
    path = write_playbook(
        "needs_var",
        """
        name: needs_var
        steps:
          - name: greet
            action: log
            with: {message: "{{ vars.who.name }}"}
            retries: 3
        """,
    )
    engine = make_engine()
    run = await engine.execute("needs_var", vars={"who": "x"})
    assert run.status is RunStatus.FAILED
    (attempt,) = engine.store.step_attempts(run.id)
    assert attempt.error is not None
    assert f"{path}:" in attempt.error
    assert "vars.who.name" in attempt.error
