"""Ingestion rows on SQLite and PostgreSQL: idempotent events, offsets, fires, heartbeats, episodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.store import Store, open_store
from grace.testing import FakeClock, make_event


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store with a fake clock."""
    s = open_store(database_url, clock=FakeClock())
    yield s
    s.close()


def test_event_insert_is_idempotent_per_source_key(store: Store) -> None:
    """The same (source, event_key) is recorded once; another source with that key is separate."""
    first = make_event("boom", id="evt_1", source="sdk:app")
    assert store.insert_event(first, event_key="k1") is True
    assert (
        store.insert_event(make_event("boom", id="evt_2", source="sdk:app"), event_key="k1")
        is False
    )
    assert (
        store.insert_event(make_event("boom", id="evt_3", source="log:/x"), event_key="k1") is True
    )
    assert store.count_events() == 2


def test_offsets_upsert(store: Store) -> None:
    """A log source's offset is saved, replaced, and read back with its file identity."""
    assert store.get_offset("log:/var/log/a.log") is None
    store.save_offset("log:/var/log/a.log", "2049:77", 100)
    store.save_offset("log:/var/log/a.log", "2049:78", 5)
    assert store.get_offset("log:/var/log/a.log") == ("2049:78", 5)


def test_schedule_fire_once_per_slot(store: Store) -> None:
    """A scheduled (job, slot) fires once, however many times it is claimed."""
    assert store.record_fire("nightly", "2026-01-01T00:00Z") is True
    assert store.record_fire("nightly", "2026-01-01T00:00Z") is False
    assert store.record_fire("nightly", "2026-01-02T00:00Z") is True


def test_heartbeats_and_episodes(store: Store) -> None:
    """Heartbeats keep the last ping; episodes go firing → resolved and say when they changed."""
    clock = store.clock
    assert isinstance(clock, FakeClock)
    store.beat("runner")
    clock.advance(5)
    at = store.beat("runner", detail={"pid": 1})
    assert store.last_beats() == {"runner": at}
    assert store.open_episode("am:abc", service="api") is True
    assert store.open_episode("am:abc") is False
    assert store.episode_status("am:abc") == "firing"
    assert store.resolve_episode("am:abc") is True
    assert store.resolve_episode("am:abc") is False
    assert store.episode_status("am:abc") == "resolved"
    assert store.episode_status("am:none") is None


def test_text_no_database_takes_is_kept_as_replacement_characters(store: Store) -> None:
    """A NUL or a lone surrogate (a stray byte in a log line, a fuzzer's string) would make
    PostgreSQL refuse the row: it is stored as U+FFFD instead, the rest of the event intact."""
    event = make_event(
        "bad\x00byte \ud800 and 😀",
        id="evt_nul",
        service="api\x00",
        attributes={"frames": ["f\x00", {"k\udfff": "v"}], "ok": "plain 😀", "n": 3},
    )
    assert store.insert_event(event) is True
    with store.engine.connect() as conn:
        message, service, attributes = conn.exec_driver_sql(
            "SELECT message, service, attributes FROM events WHERE id = 'evt_nul'"
        ).one()
    assert message == "bad\ufffdbyte \ufffd and 😀"
    assert service == "api\ufffd"
    if isinstance(attributes, str):  # SQLite hands JSON back as text
        import json

        attributes = json.loads(attributes)
    assert attributes == {"frames": ["f\ufffd", {"k\ufffd": "v"}], "ok": "plain 😀", "n": 3}
