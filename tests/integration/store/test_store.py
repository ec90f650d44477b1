"""The store on real SQLite and PostgreSQL: claims, the fenced step gate, audit in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.errors import FenceLost, RunError
from grace.runs import Run, RunStatus, StepPhase, StepStatus
from grace.store import Store, open_store
from grace.testing import FakeClock, SequentialIds


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store with a fake clock and predictable ids."""
    s = open_store(database_url, clock=FakeClock(), ids=SequentialIds())
    yield s
    s.close()


def _run(store: Store, run_id: str = "run_1") -> Run:
    return store.create_run(
        Run(
            id=run_id,
            playbook="p",
            playbook_version="1",
            status=RunStatus.QUEUED,
            created_at=store.clock.now(),
        )
    )


def test_claim_bumps_fence_and_stale_fence_cannot_start_a_step(store: Store) -> None:
    """A second claim (after the lease expired) bumps the fence; the first worker's step gate refuses it."""
    _run(store)
    first = store.claim_run("run_1", owner="a:1", lease_s=10)
    assert first.fence == 1
    assert first.status is RunStatus.RUNNING
    with pytest.raises(RunError, match="cannot be claimed"):
        store.claim_run("run_1", owner="b:2", lease_s=10)
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(11)
    second = store.claim_run("run_1", owner="b:2", lease_s=10)
    assert second.fence == 2
    with pytest.raises(FenceLost, match="fence 2, ours 1"):
        store.begin_step(
            "run_1",
            fence=1,
            step="s",
            phase=StepPhase.MAIN,
            index=0,
            attempt=1,
            action="log",
            params={},
        )
    attempt = store.begin_step(
        "run_1",
        fence=2,
        step="s",
        phase=StepPhase.MAIN,
        index=0,
        attempt=1,
        action="log",
        params={},
    )
    assert attempt.status is StepStatus.STARTED


def test_step_outcome_and_outputs_recorded_with_audit(store: Store) -> None:
    """finish_step stores outputs on the run; each transition has its audit entry, in chain order."""
    _run(store)
    run = store.claim_run("run_1", owner="a:1", lease_s=10)
    attempt = store.begin_step(
        "run_1",
        fence=run.fence,
        step="s",
        phase=StepPhase.MAIN,
        index=0,
        attempt=1,
        action="log",
        params={"x": 1},
    )
    store.finish_step(
        attempt,
        fence=run.fence,
        status=StepStatus.SUCCEEDED,
        outputs={"pids": [1, 2]},
        completed=True,
    )
    done = store.finish_run("run_1", fence=run.fence, status=RunStatus.SUCCEEDED)
    assert done.outputs == {"s": {"pids": [1, 2]}}
    assert done.last_completed_step == "s"
    actions = [e.action for e in store.audit_entries(subject="run_1")]
    assert actions == [
        "run.created",
        "run.started",
        "step.started",
        "step.succeeded",
        "run.succeeded",
    ]
    seqs = [e.seq for e in store.audit_entries()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_interrupt_closes_open_attempts_and_bumps_fence(store: Store) -> None:
    """interrupt_run marks open attempts interrupted and fences out the old worker."""
    _run(store)
    run = store.claim_run("run_1", owner="a:1", lease_s=10)
    store.begin_step(
        "run_1",
        fence=run.fence,
        step="s",
        phase=StepPhase.MAIN,
        index=0,
        attempt=1,
        action="x",
        params={},
    )
    after = store.interrupt_run("run_1", reason="worker died")
    assert after.status is RunStatus.INTERRUPTED
    assert after.fence == run.fence + 1
    assert [a.status for a in store.step_attempts("run_1")] == [StepStatus.INTERRUPTED]
    with pytest.raises(FenceLost):
        store.begin_step(
            "run_1",
            fence=run.fence,
            step="t",
            phase=StepPhase.MAIN,
            index=1,
            attempt=1,
            action="x",
            params={},
        )


def test_get_run_by_prefix_and_unknown(store: Store) -> None:
    """Runs can be named by a unique id prefix; an unknown id says how to list runs."""
    _run(store, "run_abcdef123")
    assert store.get_run("run_abcdef").id == "run_abcdef123"
    with pytest.raises(RunError, match="no run with id 'run_zzzzzz'") as info:
        store.get_run("run_zzzzzz")
    assert info.value.hint == "list runs with 'grace runs'"


def test_non_json_outputs_are_stored_as_text(store: Store) -> None:
    """Outputs that JSON cannot hold are stored as strings instead of failing the commit."""
    import datetime as dt

    _run(store)
    run = store.claim_run("run_1", owner="a:1", lease_s=10)
    attempt = store.begin_step(
        "run_1",
        fence=run.fence,
        step="s",
        phase=StepPhase.MAIN,
        index=0,
        attempt=1,
        action="x",
        params={},
    )
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    done = store.finish_step(
        attempt, fence=run.fence, status=StepStatus.SUCCEEDED, outputs={"at": when}, completed=True
    )
    assert done.outputs == {"at": str(when)}


def test_one_open_run_per_incident(store: Store) -> None:
    """A second active run with the same dedupe key is refused, naming the open one; later ones go."""
    from grace.errors import DuplicateIncident

    def new(run_id: str) -> Run:
        return Run(
            id=run_id,
            playbook="p",
            playbook_version="1",
            status=RunStatus.QUEUED,
            created_at=store.clock.now(),
            dedupe_key="p:sig1",
        )

    store.create_run(new("run_a"))
    with pytest.raises(DuplicateIncident, match="run run_a is already open") as info:
        store.create_run(new("run_b"))
    assert info.value.run_id == "run_a"
    run = store.claim_run("run_a", owner="a:1", lease_s=10)
    store.finish_run("run_a", fence=run.fence, status=RunStatus.SUCCEEDED)
    store.create_run(new("run_c"))  # the incident's earlier run is closed: a new one may open
    assert store.open_run_for("p:sig1") == "run_c"


def test_head_revision_is_the_newest_migration() -> None:
    """The fast start-up check compares with HEAD_REVISION: it must name Alembic's head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from grace.store import _database

    cfg = Config()
    cfg.set_main_option("script_location", str(_database._MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == _database.HEAD_REVISION
