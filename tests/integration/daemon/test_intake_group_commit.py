"""The intake's group commit: an event is committed before ``submit`` returns, writes never
overlap, a failure reaches every waiter, and a cancelled writer still records its batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import anyio
import pytest

from grace.config import Settings
from grace.daemon import Daemon
from grace.errors import StoreError
from grace.events import Event
from grace.pipeline import Pipeline
from grace.testing import make_event

pytestmark = pytest.mark.anyio


class Spy:
    """Wraps ``store.insert_events``: records what each write held and how many overlapped."""

    def __init__(self, insert: Callable[[Sequence[tuple[Event, str | None]]], list[bool]]) -> None:
        self.insert = insert
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.active = 0
        self.most_active = 0
        self.fail_next = 0
        """Make this many writes fail (after a pause, so others queue behind them)."""
        self.pause_s = 0.0

    def __call__(self, batch: Sequence[tuple[Event, str | None]]) -> list[bool]:
        import time

        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.pause_s)  # a slow disk: submissions pile up behind this write
            if self.fail_next:
                self.fail_next -= 1
                msg = "the store is unavailable (test)"
                raise StoreError(msg)
            fresh = self.insert(batch)
            self.batches.append([e.id for e, _ in batch])
            self.committed.update(e.id for e, _ in batch)
            return fresh
        finally:
            self.active -= 1


@pytest.fixture
def pipeline(daemon_settings: Callable[..., Settings]) -> Iterator[tuple[Pipeline, Spy]]:
    """The daemon's pipeline (not running: submissions are recorded and queued) and a spy."""
    daemon = Daemon.create(daemon_settings())
    spy = Spy(daemon.engine.store.insert_events)
    daemon.engine.store.insert_events = spy  # type: ignore[method-assign]
    try:
        yield daemon.pipeline, spy
    finally:
        daemon.engine.close()


async def test_concurrent_submissions_share_commits_and_each_is_recorded_first(
    pipeline: tuple[Pipeline, Spy],
) -> None:
    """60 concurrent submissions take a handful of writes, none overlapping, and each returns
    only once its own event is committed."""
    pipe, spy = pipeline
    spy.pause_s = 0.01
    returned_before_commit: list[str] = []

    async def one(i: int) -> None:
        event = make_event(f"boom {i}", id=f"e{i}")
        done = await pipe.submit(event)
        assert done.accepted
        if event.id not in spy.committed:
            returned_before_commit.append(event.id)

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(one, i)
    assert returned_before_commit == []
    assert sorted(id_ for b in spy.batches for id_ in b) == sorted(f"e{i}" for i in range(60))
    assert len(spy.batches) < 20  # grouped: the first write alone, then the rest in few
    assert spy.most_active == 1
    assert pipe.store.count_events() == 60


async def test_duplicates_are_told_apart_inside_and_across_batches(
    pipeline: tuple[Pipeline, Spy],
) -> None:
    """The same (source, key) twice in one group commit, or again later, is one event."""
    pipe, spy = pipeline
    spy.pause_s = 0.01
    results: dict[str, bool] = {}

    async def one(name: str, key: str) -> None:
        results[name] = (await pipe.submit(make_event("x", id=name), event_key=key)).accepted

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(one, f"a{i}", f"k{i % 5}")
    assert sum(results.values()) == 5
    again = await pipe.submit(make_event("x", id="late"), event_key="k3")
    assert (again.accepted, again.reason) == (False, "duplicate")
    assert pipe.store.count_events() == 5


async def test_a_failed_write_fails_each_of_its_submissions_and_the_next_write_works(
    pipeline: tuple[Pipeline, Spy],
) -> None:
    """A store outage is raised to every submitter whose event it held (none acknowledged);
    later submissions are written normally."""
    pipe, spy = pipeline
    spy.pause_s = 0.02
    spy.fail_next = 2  # the first write (1 event) and the group behind it
    outcome: dict[str, str] = {}

    async def one(i: int) -> None:
        try:
            await pipe.submit(make_event("x", id=f"f{i}"))
            outcome[f"f{i}"] = "accepted"
        except StoreError:
            outcome[f"f{i}"] = "failed"

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    assert set(outcome.values()) == {"failed"}
    assert spy.committed == set()
    assert (await pipe.submit(make_event("x", id="after"))).accepted
    assert pipe.store.count_events() == 1


async def test_a_cancelled_writer_still_records_the_events_waiting_on_it(
    pipeline: tuple[Pipeline, Spy],
) -> None:
    """The request that is to write a batch is cancelled (its client went away) while the
    write before is in flight: its batch is still written and every other submitter of it
    is answered."""
    pipe, spy = pipeline
    spy.pause_s = 0.05
    answered: list[str] = []

    async def one(i: int) -> None:
        await pipe.submit(make_event("x", id=f"c{i}"))
        answered.append(f"c{i}")

    async with anyio.create_task_group() as outer:
        outer.start_soon(one, 0)  # writes alone (nothing in flight)
        await anyio.sleep(0.01)
        async with anyio.create_task_group() as leader:
            leader.start_soon(one, 1)  # starts the next batch: it will write it
            await anyio.sleep(0.005)
            for i in range(2, 6):
                outer.start_soon(one, i)  # join c1's batch
            await anyio.sleep(0.005)
            leader.cancel_scope.cancel()
    assert set(answered) >= {"c0", "c2", "c3", "c4", "c5"}
    assert spy.batches == [["c0"], ["c1", "c2", "c3", "c4", "c5"]]
    assert pipe.store.count_events() == 6
    assert spy.most_active == 1


async def test_bursts_take_turns_with_single_submissions(pipeline: tuple[Pipeline, Spy]) -> None:
    """``submit_many`` (a batch body) and single submissions never write at the same time."""
    pipe, spy = pipeline
    spy.pause_s = 0.005

    async def burst(b: int) -> None:
        events: list[tuple[Event, Any]] = [
            (make_event("x", id=f"b{b}-{i}"), None) for i in range(20)
        ]
        assert all(r.accepted for r in await pipe.submit_many(events))

    async def single(i: int) -> None:
        assert (await pipe.submit(make_event("x", id=f"s{i}"))).accepted

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(burst, i)
            tg.start_soon(single, i)
            tg.start_soon(single, i + 10)
    assert spy.most_active == 1
    assert pipe.store.count_events() == 4 * 20 + 8
