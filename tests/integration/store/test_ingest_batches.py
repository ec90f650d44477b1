"""``insert_events`` on SQLite (the intake's fast path) and PostgreSQL: the same rows, the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from grace.store import Store, open_store
from grace.store._tables import events as events_table
from grace.testing import FakeClock, make_event


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store with a fake clock."""
    s = open_store(database_url, clock=FakeClock())
    yield s
    s.close()


def _rows(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.id)).mappings().all()
    return {str(r["id"]): dict(r) for r in rows}


def test_a_batch_says_which_events_were_new(store: Store) -> None:
    """Repeats of an id or of a (source, key), inside the batch or from before, are not new."""
    assert store.insert_events([(make_event("old", id="e0", source="s"), "k0")]) == [True]
    batch = [
        (make_event("a", id="e1", source="s"), None),
        (make_event("b", id="e2", source="s"), "k2"),
        (make_event("same id", id="e1", source="s"), "other"),
        (make_event("same key", id="e3", source="s"), "k2"),
        (make_event("old key", id="e4", source="s"), "k0"),
        (make_event("same key, other source", id="e5", source="t"), "k2"),
    ]
    assert store.insert_events(batch) == [True, True, False, False, False, True]
    assert store.insert_events([]) == []
    rows = _rows(store)
    assert sorted(rows) == ["e0", "e1", "e2", "e5"]
    assert rows["e1"]["message"] == "a"  # the first of two with one id is the one kept
    assert rows["e1"]["event_key"] == "e1"  # no key: the id is the key
    assert rows["e2"]["event_key"] == "k2"


def test_every_field_is_stored_as_the_core_insert_stores_it(store: Store) -> None:
    """Times (with an offset), attributes (nested, non-ASCII, non-JSON values) and the rest
    read back exactly as a plain SQLAlchemy Core INSERT of the same event (in UTC) would."""
    assert isinstance(store.clock, FakeClock)
    when = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    attributes: dict[str, Any] = {"a": [1, 2.5, None], "b": {"c": "ü"}, "d": when}
    event = make_event(
        'héllo "q" 4121', id="fast", source="sdk:x", time=when, service="api",
        severity="critical", attributes=attributes,
    )  # fmt: skip
    assert store.insert_events([(event, "key-1")]) == [True]
    twin = make_event(
        'héllo "q" 4121', id="core", source="sdk:y", time=when, service="api",
        severity="critical", attributes=attributes,
    )  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(
            insert(events_table).values(
                id="core",
                source="sdk:y",
                event_key="key-1",
                time=when.astimezone(UTC),
                received_at=store.clock.now(),
                kind=twin.kind,
                service="api",
                severity="critical",
                message=twin.message,
                attributes={"a": [1, 2.5, None], "b": {"c": "ü"}, "d": str(when)},
                fingerprint=twin.fingerprint(),
            )
        )
    rows = _rows(store)
    fast, core = rows["fast"], rows["core"]
    for name in ("id", "source"):
        fast.pop(name)
        core.pop(name)
    assert fast == core
    assert fast["attributes"] == {"a": [1, 2.5, None], "b": {"c": "ü"}, "d": str(when)}
    # Stored in UTC (SQLite drops the offset: a +02:00 wall time kept as is would read back
    # two hours late).
    stored = fast["time"] if fast["time"].tzinfo else fast["time"].replace(tzinfo=UTC)
    assert stored == when


def test_a_failed_batch_records_nothing(store: Store) -> None:
    """A row the database refuses mid-batch (here a NULL kind) rolls the whole transaction
    back: no event of the batch is recorded, not even those inserted before it; the error is
    SQLAlchemy's, as from any other store write."""
    good = make_event("fine", id="g1", source="s")
    bad = make_event("bad", id="g2", source="s", kind=None)
    with pytest.raises(IntegrityError):
        store.insert_events([(good, None), (bad, None), (make_event("late", id="g3"), None)])
    assert _rows(store) == {}
