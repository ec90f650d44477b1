"""``playbook.schedule`` timers: stored as rows, fired once as governed runs, across restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from grace.actions.builtin.schedules import PlaybookScheduleParams, due_time
from grace.config import Settings
from grace.engine import Engine
from grace.errors import ActionError
from grace.pipeline._timers import fire_due_timers
from grace.runs import RunStatus
from grace.store._timers import Timers
from grace.testing import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

LATER = """
name: later
version: 1.0.0
metadata: {description: run by a timer, risk_level: low, autonomy_tier: 3}
triggers: [{type: manual}]
steps:
  - name: say
    action: log
    with: {message: "hello {{ vars.who }}"}
"""
PLAN_IT = """
name: plan_it
version: 1.0.0
metadata: {description: schedule later, risk_level: low, autonomy_tier: 3}
triggers: [{type: manual}]
steps:
  - name: schedule
    action: playbook.schedule
    with:
      name: later
      after_s: "{{ vars.after_s }}"
      vars: {who: "{{ vars.who }}"}
      key: "later:{{ vars.who }}"
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))


@pytest.fixture
def engine_on(
    settings: Settings, write_playbook: Callable[[str, str], object]
) -> Iterator[Callable[[FakeClock], Engine]]:
    write_playbook("later", LATER)
    write_playbook("plan_it", PLAN_IT)
    engines: list[Engine] = []

    def make(clock: FakeClock) -> Engine:
        engine = Engine(settings, clock=clock)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


async def test_a_timer_fires_once_with_its_vars_as_a_child_run(
    engine_on: Callable[[FakeClock], Engine], clock: FakeClock
) -> None:
    engine = engine_on(clock)
    parent = await engine.execute("plan_it", vars={"who": "ada", "after_s": 600})
    assert parent.status is RunStatus.SUCCEEDED, parent.error
    out = parent.outputs["schedule"]
    assert out["key"] == "later:ada"
    assert datetime.fromisoformat(out["due_at"]) == clock.now() + timedelta(seconds=600)

    assert await fire_due_timers(engine.store, engine, clock) == []  # not due yet
    clock.advance(600)
    started = await fire_due_timers(engine.store, engine, clock)
    assert len(started) == 1
    run = engine.store.get_run(started[0][0])
    assert (run.playbook, run.vars, run.trigger) == ("later", {"who": "ada"}, "schedule")
    assert run.parent_run_id == parent.id
    assert run.requested_by == "timer:later:ada"
    done = await engine.runner.execute(run.id)
    assert done.status is RunStatus.SUCCEEDED

    clock.advance(3600)
    assert await fire_due_timers(engine.store, engine, clock) == []  # once only
    assert len(engine.store.list_runs(playbook="later")) == 1
    timer = Timers(engine.store).get("later:ada")
    assert timer is not None
    assert (timer["status"], timer["run_id"]) == ("fired", run.id)
    actions = [e.action for e in engine.store.audit_entries(subject="timer:later:ada")]
    assert actions == ["timer.scheduled", "timer.fired"]


async def test_a_timer_survives_a_restart_and_a_crash_mid_fire_starts_no_second_run(
    engine_on: Callable[[FakeClock], Engine], clock: FakeClock
) -> None:
    first = engine_on(clock)
    await first.execute("plan_it", vars={"who": "bob", "after_s": 60})
    first.close()

    clock.advance(61)
    second = engine_on(clock)  # a new process on the same database
    (timer,) = Timers(second.store).due(clock.now())
    # A crash after the run was created but before the timer was marked fired:
    crashed = second.new_run(
        "later",
        vars=timer["vars"],
        trigger="schedule",
        requested_by=f"timer:{timer['key']}",
        parent_run_id=timer["parent_run_id"],
        idempotency_key=f"timer:{timer['id']}",
    )
    started = await fire_due_timers(second.store, second, clock)
    assert started == [(crashed.id, "")]
    assert [r.id for r in second.store.list_runs(playbook="later")] == [crashed.id]
    assert await fire_due_timers(second.store, second, clock) == []


async def test_rescheduling_moves_the_timer_and_a_refused_run_is_recorded(
    engine_on: Callable[[FakeClock], Engine], clock: FakeClock
) -> None:
    engine = engine_on(clock)
    await engine.execute("plan_it", vars={"who": "cy", "after_s": 60})
    again = await engine.execute("plan_it", vars={"who": "cy", "after_s": 120})
    assert again.outputs["schedule"]["replaced"] is not None
    pending = [t for t in Timers(engine.store).all() if t["status"] == "pending"]
    assert len(pending) == 1
    clock.advance(61)
    assert await fire_due_timers(engine.store, engine, clock) == []  # moved to +120 s

    engine.store.disable_playbook("later", by="ops", reason="maintenance")
    clock.advance(60)
    assert await fire_due_timers(engine.store, engine, clock) == []
    timer = Timers(engine.store).get("later:cy")
    assert timer is not None
    assert timer["status"] == "failed"
    assert "disabled" in str(timer["error"])
    assert engine.store.list_runs(playbook="later") == []


def test_due_time_rules() -> None:
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    # Google's daily quota resets at midnight Pacific time (UTC-8 in November).
    p = PlaybookScheduleParams(name="x", cron="0 0 * * *", timezone="America/Los_Angeles")
    assert due_time(p, now) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    p = PlaybookScheduleParams(name="x", after_s=5, cron="0 0 * * *")
    assert due_time(p, now) == now + timedelta(seconds=5)  # after_s wins
    with pytest.raises(ActionError, match="not in the future"):
        due_time(PlaybookScheduleParams(name="x", at=now - timedelta(seconds=1)), now)
    with pytest.raises(ValidationError, match="say when"):
        PlaybookScheduleParams(name="x")
    with pytest.raises(ValidationError, match="less than or equal"):
        PlaybookScheduleParams(name="x", after_s=40 * 86400)
    with pytest.raises(ValidationError, match="needs an offset"):
        PlaybookScheduleParams(name="x", at=datetime(2026, 11, 23, 8, 0))
    with pytest.raises(ValidationError, match="unknown timezone"):
        PlaybookScheduleParams(name="x", cron="0 0 * * *", timezone="Mars/Olympus")
