"""The ``schedule`` source on real fire rows (SQLite and PostgreSQL): DST, missed fires, duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from grace.events import Event
from grace.sources import SourceContext
from grace.sources.builtin.schedule import REGISTERED_SLOT, Schedule, ScheduleConfig
from grace.store import Store, open_store
from grace.testing import FakeClock, SequentialIds

pytestmark = pytest.mark.anyio


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Done(Exception):
    """Ends the loop."""


class UntilClock(FakeClock):
    """A fake clock whose ``sleep`` ends the loop once time reaches ``end``."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.end = start

    def reset(self, start: datetime, end: datetime) -> None:
        """Set the time (as a restarted process would find it) and where to stop."""
        self._now = start
        self.end = end

    async def sleep(self, seconds: float) -> None:
        """Advance; stop at the end."""
        if self.now() >= self.end:
            raise Done
        await super().sleep(seconds)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on a fake clock that stops loops at its ``end``."""
    s = open_store(database_url, clock=UntilClock(_utc(2026, 1, 1)))
    yield s
    s.close()


def _clock(store: Store) -> UntilClock:
    assert isinstance(store.clock, UntilClock)
    return store.clock


JOBS = [
    {"job": "nightly:0", "playbook": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Paris"}
]


async def _run(
    store: Store,
    tmp_path: Path,
    start: datetime,
    end: datetime,
    engine_jobs: list[dict[str, str]] = JOBS,
    **config: Any,
) -> list[tuple[Event, str | None]]:
    """Run one schedule source (a 'process') from ``start`` to ``end``; emit into the store."""
    clock = _clock(store)
    clock.reset(start, end)
    config.setdefault("max_sleep_s", 3600)  # fewer wake-ups; the unit tests cover the default
    ctx = SourceContext(
        clock=clock,
        ids=SequentialIds(),
        state=store,
        data_dir=tmp_path,
        extra={"scheduled_jobs": engine_jobs},
    )
    source = Schedule(ScheduleConfig.model_validate({"type": "schedule", **config}), ctx)
    emitted: list[tuple[Event, str | None]] = []

    async def emit(event: Event, key: str | None) -> None:
        emitted.append((event, key))
        store.insert_event(event, event_key=key)

    with pytest.raises(Done):
        await source.run(emit)
    return emitted


def _slots(emitted: list[tuple[Event, str | None]]) -> list[str]:
    return [e.attributes["slot"] for e, _ in emitted]


async def test_fire_event_shape(store: Store, tmp_path: Path) -> None:
    """A fire is a ``scheduled`` event naming playbook, job and slot, keyed by job and slot."""
    emitted = await _run(store, tmp_path, _utc(2026, 1, 5, 12), _utc(2026, 1, 6, 12))
    assert len(emitted) == 1
    event, key = emitted[0]
    assert event.kind == "scheduled"
    assert event.severity == "info"
    assert event.source == "schedule"
    assert event.attributes == {
        "playbook": "nightly",
        "job": "nightly:0",
        "slot": "2026-01-06T01:30:00Z",
        "local_time": "2026-01-06T02:30:00+01:00",
        "cron": "30 2 * * *",
        "timezone": "Europe/Paris",
        "catch_up": False,
    }
    assert key == "nightly:0:2026-01-06T01:30:00Z"
    assert event.time == _utc(2026, 1, 6, 1, 30)


async def test_dst_spring_forward_skips_the_missing_time(store: Store, tmp_path: Path) -> None:
    """Paris, 2026-03-29: 02:30 never happens, so the nightly job fires on the 28th, 30th, 31st."""
    emitted = await _run(store, tmp_path, _utc(2026, 3, 27, 12), _utc(2026, 3, 31, 12))
    assert _slots(emitted) == [
        "2026-03-28T01:30:00Z",
        "2026-03-30T00:30:00Z",
        "2026-03-31T00:30:00Z",
    ]


async def test_dst_fall_back_fires_the_repeated_time_once(store: Store, tmp_path: Path) -> None:
    """Paris, 2026-10-25: 02:30 happens twice; the job fires once, at the first (00:30 UTC)."""
    emitted = await _run(store, tmp_path, _utc(2026, 10, 24, 12), _utc(2026, 10, 26, 12))
    assert _slots(emitted) == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]


async def test_missed_fires_while_down_fire_once_for_the_latest(
    store: Store, tmp_path: Path
) -> None:
    """Down from the 5th to the 9th: on restart one catch-up fire for the 9th's slot, not four."""
    first = await _run(store, tmp_path, _utc(2026, 1, 4, 12), _utc(2026, 1, 5, 12))
    assert _slots(first) == ["2026-01-05T01:30:00Z"]

    after = await _run(store, tmp_path, _utc(2026, 1, 9, 12), _utc(2026, 1, 10, 12))
    assert [(e.attributes["slot"], e.attributes["catch_up"]) for e, _ in after] == [
        ("2026-01-09T01:30:00Z", True),
        ("2026-01-10T01:30:00Z", False),
    ]


async def test_a_new_job_does_not_fire_for_slots_before_it_existed(
    store: Store, tmp_path: Path
) -> None:
    """The first start of a job claims the previous slot silently; a restart then has nothing to
    catch up."""
    assert await _run(store, tmp_path, _utc(2026, 1, 4, 12), _utc(2026, 1, 4, 13)) == []
    assert await _run(store, tmp_path, _utc(2026, 1, 4, 14), _utc(2026, 1, 4, 15)) == []
    assert store.record_fire("nightly:0", REGISTERED_SLOT) is False
    assert store.record_fire("nightly:0", "2026-01-04T01:30:00Z") is False


async def test_catch_up_false_skips_missed_fires(store: Store, tmp_path: Path) -> None:
    """``catch_up: false``: a restart after a missed slot fires nothing until the next slot."""
    await _run(store, tmp_path, _utc(2026, 1, 4, 12), _utc(2026, 1, 4, 13))
    after = await _run(store, tmp_path, _utc(2026, 1, 9, 12), _utc(2026, 1, 10, 12), catch_up=False)
    assert [(e.attributes["slot"], e.attributes["catch_up"]) for e, _ in after] == [
        ("2026-01-10T01:30:00Z", False),
    ]


async def test_a_duplicate_fire_is_a_no_op(store: Store, tmp_path: Path) -> None:
    """A second scheduler over the same window (another node, a replay) claims nothing, emits
    nothing; a slot claimed elsewhere beforehand is not emitted either."""
    window = (_utc(2026, 2, 1, 12), _utc(2026, 2, 4, 12))
    store.record_fire("nightly:0", "2026-02-03T01:30:00Z")  # taken by another node
    first = await _run(store, tmp_path, *window)
    second = await _run(store, tmp_path, *window)
    assert _slots(first) == ["2026-02-02T01:30:00Z", "2026-02-04T01:30:00Z"]
    assert second == []
    assert store.count_events() == 2


async def test_config_jobs_and_engine_jobs_run_side_by_side(store: Store, tmp_path: Path) -> None:
    """Jobs in the source's own config fire next to the playbooks' jobs, each in its timezone."""
    tokyo = {"name": "tokyo_report", "cron": "0 9 * * *", "timezone": "Asia/Tokyo"}
    emitted = await _run(store, tmp_path, _utc(2026, 1, 5, 12), _utc(2026, 1, 6, 12), jobs=[tokyo])
    assert sorted((e.attributes["job"], e.attributes["slot"]) for e, _ in emitted) == [
        ("nightly:0", "2026-01-06T01:30:00Z"),
        ("tokyo_report", "2026-01-06T00:00:00Z"),
    ]
