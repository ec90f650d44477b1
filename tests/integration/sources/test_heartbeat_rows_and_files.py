"""The ``heartbeat`` source on real rows (SQLite and PostgreSQL) and real files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from grace.events import Event
from grace.sources import SourceContext
from grace.sources.builtin.heartbeat import Heartbeat, HeartbeatConfig
from grace.store import Store, open_store
from grace.testing import FakeClock, SequentialIds

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on a fake clock."""
    s = open_store(database_url, clock=FakeClock())
    yield s
    s.close()


def _clock(store: Store) -> FakeClock:
    assert isinstance(store.clock, FakeClock)
    return store.clock


def _source(store: Store, tmp_path: Path, **fields: object) -> Heartbeat:
    config = HeartbeatConfig.model_validate(
        {"type": "heartbeat", "name": "runner", "timeout_s": 30, **fields}
    )
    ctx = SourceContext(clock=store.clock, ids=SequentialIds(), state=store, data_dir=tmp_path)
    return Heartbeat(config, ctx)


class Recorder:
    """An ``emit`` that records into the store, as the pipeline does (idempotent per key)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.accepted: list[Event] = []

    async def __call__(self, event: Event, key: str | None) -> None:
        """Insert; keep what the store accepted as new."""
        if self.store.insert_event(event, event_key=key):
            self.accepted.append(event)


async def test_push_pings_are_rows(store: Store, tmp_path: Path) -> None:
    """Pings written with ``store.beat`` keep the component alive; silence is one event."""
    clock = _clock(store)
    source, emit = _source(store, tmp_path), Recorder(store)
    store.beat("runner")
    for _ in range(5):
        clock.advance(10)
        store.beat("runner")
        await source.check(emit)
    assert emit.accepted == []

    clock.advance(42)
    await source.check(emit)
    clock.advance(10)
    await source.check(emit)
    assert [e.message for e in emit.accepted] == ["heartbeat 'runner' silent for 42s (timeout 30s)"]

    store.beat("runner")
    await source.check(emit)
    assert [e.attributes["recovered"] for e in emit.accepted] == [False, True]


async def test_restart_does_not_repeat_the_silence(store: Store, tmp_path: Path) -> None:
    """A second watcher (after a restart, or on another node) sees the same silence under the
    same key: the store records it once."""
    clock = _clock(store)
    emit = Recorder(store)
    store.beat("runner")
    clock.advance(40)
    await _source(store, tmp_path).check(emit)
    await _source(store, tmp_path).check(emit)  # the restarted process
    clock.advance(5)
    await _source(store, tmp_path).check(emit)
    assert len(emit.accepted) == 1
    assert store.count_events() == 1


async def test_file_mode_reads_the_mtime(store: Store, tmp_path: Path) -> None:
    """In file mode the file's modification time is the ping; a missing file is 'never seen'."""
    clock = _clock(store)
    alive = tmp_path / "alive"
    source, emit = _source(store, tmp_path, mode="file", path=str(alive)), Recorder(store)

    await source.check(emit)  # no file yet: watching starts now
    alive.touch()
    stamp = (clock.now() + timedelta(seconds=20)).timestamp()
    os.utime(alive, (stamp, stamp))
    clock.advance(45)
    await source.check(emit)  # 25 s since the touch: alive
    assert emit.accepted == []

    clock.advance(10)
    await source.check(emit)  # 35 s since the touch
    assert len(emit.accepted) == 1
    assert emit.accepted[0].message == "heartbeat 'runner' silent for 35s (timeout 30s)"
    assert emit.accepted[0].attributes["path"] == str(alive)

    stamp = clock.now().timestamp()
    os.utime(alive, (stamp, stamp))
    await source.check(emit)
    assert emit.accepted[-1].message == "heartbeat 'runner' resumed after 35s of silence"
