"""The intake's own connection (grace.store._intake): kept across batches, replaced when it
dies, never holding a lock between batches, every batch committed before the call returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import IntegrityError

from grace.store import Store, open_store
from grace.store._tables import events as events_table
from grace.testing import FakeClock, make_event


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url, clock=FakeClock())
    yield s
    s.close()


def _ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(select(events_table.c.id).order_by("id"))]


def _checkouts(store: Store) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "checkout", lambda *_: seen.append(1))
    return seen


def test_batches_share_one_connection_until_close(store: Store) -> None:
    """After the first batch no batch checks a connection out of the pool; ``close`` gives
    it back."""
    store.insert_events([(make_event("a", id="e0"), None)])
    checkouts = _checkouts(store)
    for i in range(1, 6):
        assert store.insert_events([(make_event("a", id=f"e{i}"), None)]) == [True]
    assert checkouts == []
    assert _ids(store) == [f"e{i}" for i in range(6)]
    store.close()
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failed_batch_drops_the_connection_and_the_next_batch_works(store: Store) -> None:
    """A batch the database refuses is rolled back (nothing of it recorded); the next batch
    is written on a new connection."""
    store.insert_events([(make_event("a", id="e0"), None)])
    bad = make_event("bad", id="g2", kind=None)
    with pytest.raises(IntegrityError):
        store.insert_events([(make_event("ok", id="g1"), None), (bad, None)])
    checkouts = _checkouts(store)
    assert store.insert_events([(make_event("b", id="e1"), None)]) == [True]
    assert checkouts == [1]
    assert _ids(store) == ["e0", "e1"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_terminated_backend_is_replaced_and_the_batch_written_once(
    store: Store, database_url: str
) -> None:
    """PostgreSQL: the writer's backend is killed between batches (a server restart, an
    admin): the next batch finds the connection dead at its INSERT, nothing of it committed,
    and is written on a new connection: recorded once, reported new."""
    assert database_url.startswith("postgresql")  # pg_terminate_backend is PostgreSQL's
    store.insert_events([(make_event("a", id="e0"), None)])
    intake = store._intake
    assert intake is not None
    assert intake._conn is not None
    pid = intake._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    intake._conn.rollback()
    with store.engine.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        admin.commit()
    time.sleep(0.2)
    batch = [(make_event("b", id="e1"), None), (make_event("c", id="e2"), "k")]
    assert store.insert_events(batch) == [True, True]
    assert store.insert_events([(make_event("c", id="e3"), "k")]) == [False]
    assert _ids(store) == ["e0", "e1", "e2"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_writer_waits_for_another_writer_and_holds_no_lock_between_batches(
    store: Store, database_url: str
) -> None:
    """SQLite: another connection holds the write lock; the intake's batch waits for it (no
    error, no deadlock) and commits after. Between batches the intake holds no lock: another
    writer takes it at once."""
    assert database_url.startswith("sqlite")  # SQLite's single write lock
    store.insert_events([(make_event("a", id="e0"), None)])
    other = create_engine(database_url, connect_args={"timeout": 0.1})
    try:
        with other.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.isolation_level = None
            raw.execute("BEGIN IMMEDIATE")  # at once: the intake holds no lock now
            raw.execute("UPDATE events SET message = 'held' WHERE id = 'e0'")
            done: list[Any] = []
            writer = threading.Thread(
                target=lambda: done.append(store.insert_events([(make_event("b", id="e1"), None)]))
            )
            writer.start()
            time.sleep(0.3)
            assert done == []  # waiting for the lock
            raw.execute("COMMIT")
            writer.join(10)
            assert done == [[True]]
            raw.execute("BEGIN IMMEDIATE")  # and free again after the batch
            raw.execute("ROLLBACK")
    finally:
        other.dispose()
    assert _ids(store) == ["e0", "e1"]


def test_a_batch_is_durable_when_the_call_returns(database_url: str, tmp_path: Path) -> None:
    """A process killed right after ``insert_events`` returned (no close, no clean exit)
    loses nothing of it."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from grace.store import open_store
        from grace.testing import make_event
        store = open_store({database_url!r})
        store.insert_events([(make_event("a", id="e0"), None)])
        store.insert_events([(make_event("b", id=f"e{{i}}"), None) for i in range(1, 50)])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, cwd=tmp_path, timeout=60)
    assert proc.returncode == -9
    reopened = open_store(database_url)
    try:
        assert reopened.count_events() == 50
    finally:
        reopened.close()
