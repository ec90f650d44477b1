"""One run per target (service) at a time: the lock row taken with the claim, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.errors import RunError
from grace.runs import Run, RunStatus
from grace.store import Store, TargetBusy, open_store
from grace.testing import FakeClock, SequentialIds


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock; tests move it to expire leases."""
    return FakeClock()


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated store with a fake clock and predictable ids."""
    s = open_store(database_url, clock=clock, ids=SequentialIds())
    yield s
    s.close()


def _queued(store: Store, run_id: str, service: str) -> Run:
    return store.create_run(
        Run(
            id=run_id,
            playbook="restart",
            playbook_version="1",
            status=RunStatus.QUEUED,
            created_at=store.clock.now(),
            service=service,
        )
    )


def test_second_run_on_a_busy_target_is_refused_until_the_first_ends(store: Store) -> None:
    """Run 2 on service X cannot be claimed while run 1 holds X; it can once run 1 finished."""
    _queued(store, "run_1", "x")
    _queued(store, "run_2", "x")
    first = store.claim_run("run_1", owner="w:1", lease_s=30)
    assert first.status is RunStatus.RUNNING
    assert store.target_holders() == {"x": "run_1"}

    with pytest.raises(TargetBusy) as caught:
        store.claim_run("run_2", owner="w:2", lease_s=30)
    assert isinstance(caught.value, RunError)
    assert (caught.value.target, caught.value.holder) == ("x", "run_1")
    assert str(caught.value) == "service 'x' is busy: run run_1 is working on it"
    # The refused claim changed nothing: run 2 is still queued, unclaimed.
    refused = store.get_run("run_2")
    assert (refused.status, refused.fence, refused.lease_owner) == (RunStatus.QUEUED, 0, None)
    assert store.target_holders() == {"x": "run_1"}

    store.finish_run("run_1", fence=first.fence, status=RunStatus.SUCCEEDED)
    assert store.target_holders() == {}
    second = store.claim_run("run_2", owner="w:2", lease_s=30)
    assert (second.status, second.fence, second.lease_owner) == (RunStatus.RUNNING, 1, "w:2")
    assert store.target_holders() == {"x": "run_2"}


def test_a_failed_or_interrupted_holder_releases_the_target(store: Store) -> None:
    """Every way a run ends lets go of its target: failed, then interrupted."""
    for n in (1, 2, 3):
        _queued(store, f"run_{n}", "x")
    one = store.claim_run("run_1", owner="w:1", lease_s=30)
    store.finish_run("run_1", fence=one.fence, status=RunStatus.FAILED, error="boom")
    store.claim_run("run_2", owner="w:1", lease_s=30)
    assert store.target_holders() == {"x": "run_2"}
    store.interrupt_run("run_2", reason="worker died")
    assert store.target_holders() == {}
    assert store.claim_run("run_3", owner="w:1", lease_s=30).status is RunStatus.RUNNING
    assert store.target_holders() == {"x": "run_3"}


def test_an_expired_lease_lock_is_taken_over(store: Store, clock: FakeClock) -> None:
    """A holder whose lease lapsed (its worker died) no longer blocks the target."""
    _queued(store, "run_1", "x")
    _queued(store, "run_2", "x")
    store.claim_run("run_1", owner="w:1", lease_s=10)
    clock.advance(9)
    with pytest.raises(TargetBusy):
        store.claim_run("run_2", owner="w:2", lease_s=10)
    clock.advance(2)  # 11 s after the claim: the 10 s lease is over
    taken = store.claim_run("run_2", owner="w:2", lease_s=10)
    assert (taken.status, taken.lease_owner) == (RunStatus.RUNNING, "w:2")
    assert store.target_holders() == {"x": "run_2"}
    # Run 1 was not finished by this: only its lock was taken over.
    assert store.get_run("run_1").status is RunStatus.RUNNING


def test_a_renewed_lease_keeps_the_lock(store: Store, clock: FakeClock) -> None:
    """Renewing the run's lease renews its target lock: past the first lease, X is still held."""
    _queued(store, "run_1", "x")
    _queued(store, "run_2", "x")
    first = store.claim_run("run_1", owner="w:1", lease_s=10)
    clock.advance(8)
    store.renew_lease("run_1", fence=first.fence, owner="w:1", lease_s=10)
    clock.advance(8)  # 16 s after the claim, 8 s after the renewal
    with pytest.raises(TargetBusy):
        store.claim_run("run_2", owner="w:2", lease_s=10)


def test_other_targets_are_unaffected(store: Store) -> None:
    """A run holding X never blocks runs on Y, nor runs without a service."""
    _queued(store, "run_1", "x")
    _queued(store, "run_2", "y")
    _queued(store, "run_3", "")
    store.claim_run("run_1", owner="w:1", lease_s=30)
    assert store.claim_run("run_2", owner="w:1", lease_s=30).status is RunStatus.RUNNING
    assert store.claim_run("run_3", owner="w:1", lease_s=30).status is RunStatus.RUNNING
    assert store.target_holders() == {"x": "run_1", "y": "run_2"}
