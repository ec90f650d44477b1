"""Cron slots in a timezone (DST skipped and repeated hours) and the ``schedule`` config."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from grace.errors import ConfigError
from grace.events import Event
from grace.sources import SourceContext, SourceRegistry, SourceState
from grace.sources.builtin.schedule import (
    CronJob,
    JobSpec,
    Schedule,
    ScheduleConfig,
    next_slot,
    previous_slot,
)
from grace.testing import FakeClock, SequentialIds

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _walk(job: CronJob, start: datetime, count: int) -> list[str]:
    out, at = [], start
    for _ in range(count):
        at = next_slot(job, at)
        out.append(at.astimezone(job.zone).isoformat())
    return out


class TestSlots:
    def test_a_skipped_wall_time_does_not_fire(self) -> None:
        """02:30 does not exist in Paris on 2026-03-29 (clocks jump 02:00 → 03:00): no fire that day."""
        job = CronJob("j", "30 2 * * *", PARIS)
        assert _walk(job, _utc(2026, 3, 28, 12), 2) == [
            "2026-03-30T02:30:00+02:00",
            "2026-03-31T02:30:00+02:00",
        ]

    def test_a_repeated_wall_time_fires_once(self) -> None:
        """02:30 happens twice in Paris on 2026-10-25 (03:00 → 02:00): it fires once, the first time."""
        job = CronJob("j", "30 2 * * *", PARIS)
        assert _walk(job, _utc(2026, 10, 24, 12), 2) == [
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
        ]

    def test_the_repeated_hour_is_not_run_twice_by_frequent_jobs(self) -> None:
        """Every 20 minutes through the repeated hour: 02:00, 02:20, 02:40 once each, then 03:00."""
        job = CronJob("j", "*/20 * * * *", PARIS)
        assert _walk(job, _utc(2026, 10, 24, 23, 50), 5) == [
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:20:00+02:00",
            "2026-10-25T02:40:00+02:00",
            "2026-10-25T03:00:00+01:00",
            "2026-10-25T03:20:00+01:00",
        ]

    def test_hourly_across_spring_forward_in_new_york(self) -> None:
        """Hourly on 2026-03-08 in New York: 01:00, then 03:00 (02:00 does not exist) an hour later."""
        job = CronJob("j", "0 * * * *", NEW_YORK)
        slots = [next_slot(job, _utc(2026, 3, 8, 5, 30))]
        slots.append(next_slot(job, slots[0]))
        assert [s.astimezone(NEW_YORK).isoformat() for s in slots] == [
            "2026-03-08T01:00:00-05:00",
            "2026-03-08T03:00:00-04:00",
        ]
        assert (slots[1] - slots[0]).total_seconds() == 3600

    def test_previous_slot_includes_the_instant_itself(self) -> None:
        """A fire exactly at ``at`` is the previous slot; a second later it still is."""
        job = CronJob("j", "0 * * * *", zoneinfo.ZoneInfo("UTC"))
        assert previous_slot(job, _utc(2026, 1, 1, 15)) == _utc(2026, 1, 1, 15)
        assert previous_slot(job, _utc(2026, 1, 1, 15, 0, 1)) == _utc(2026, 1, 1, 15)
        assert next_slot(job, _utc(2026, 1, 1, 15)) == _utc(2026, 1, 1, 16)

    def test_previous_slot_in_the_second_pass_of_a_repeated_hour(self) -> None:
        """During the repeated hour's second pass, the previous slot is the first pass's fire."""
        job = CronJob("j", "30 2 * * *", PARIS)
        second_pass = _utc(2026, 10, 25, 1, 45)  # 02:45 CET, after the 02:30 CEST fire
        assert previous_slot(job, second_pass) == _utc(2026, 10, 25, 0, 30)

    def test_timezone_shifts_the_utc_instant(self) -> None:
        """'0 9 * * *' in Paris in winter is 08:00 UTC."""
        job = CronJob("j", "0 9 * * *", PARIS)
        assert next_slot(job, _utc(2026, 1, 5)) == _utc(2026, 1, 5, 8)


class Fires:
    """In-memory fires: a (job, slot) is claimed once."""

    def __init__(self) -> None:
        self.claimed: set[tuple[str, str]] = set()

    def record_fire(self, job: str, slot: str) -> bool:
        """Claim; False when already claimed."""
        if (job, slot) in self.claimed:
            return False
        self.claimed.add((job, slot))
        return True


class Done(Exception):
    """Ends the loop."""


class UntilClock(FakeClock):
    """A fake clock whose ``sleep`` ends the loop once time reaches ``end``."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(start)
        self.end = end

    async def sleep(self, seconds: float) -> None:
        """Advance; stop at the end."""
        if self.now() >= self.end:
            raise Done
        await super().sleep(seconds)


@pytest.mark.anyio
async def test_loop_sleeps_at_most_max_sleep_and_jumps_fire_once(tmp_path: Path) -> None:
    """Sleeps are clamped to ``max_sleep_s``; a clock jump over three slots fires only the last."""
    clock = UntilClock(_utc(2026, 1, 1, 12, 30), _utc(2026, 1, 1, 17, 30))
    fires = Fires()
    ctx = SourceContext(
        clock=clock, ids=SequentialIds(), state=cast(SourceState, fires), data_dir=tmp_path
    )
    config = ScheduleConfig(type="schedule", jobs=[JobSpec(name="hourly", cron="0 * * * *")])
    source = Schedule(config, ctx)
    emitted: list[Event] = []

    async def emit(event: Event, key: str | None) -> None:
        emitted.append(event)
        if event.attributes["slot"] == "2026-01-01T13:00:00Z":
            clock.advance(3 * 3600 + 60)  # suspend/resume: 13:00 → 16:01

    with pytest.raises(Done):
        await source.run(emit)
    assert max(clock.sleeps) <= 60.0
    assert [(e.attributes["slot"], e.attributes["catch_up"]) for e in emitted] == [
        ("2026-01-01T13:00:00Z", False),
        ("2026-01-01T16:00:00Z", True),
        ("2026-01-01T17:00:00Z", False),
    ]


@pytest.mark.anyio
async def test_no_jobs_means_the_source_just_waits(tmp_path: Path) -> None:
    """With no jobs the source sleeps until cancelled and emits nothing."""
    import anyio

    ctx = SourceContext(
        clock=FakeClock(), ids=SequentialIds(), state=cast(SourceState, Fires()), data_dir=tmp_path
    )
    source = Schedule(ScheduleConfig(type="schedule"), ctx)

    async def emit(event: Event, key: str | None) -> None:
        raise AssertionError("nothing to emit")

    with anyio.move_on_after(0.05) as scope:
        await source.run(emit)
    assert scope.cancelled_caught


def _parse(raw: dict[str, Any]) -> ScheduleConfig:
    registry = SourceRegistry()
    registry.register_from(Schedule)
    config = registry.parse({"type": "schedule", **raw}, where="grace.yaml: sources[1]")
    assert isinstance(config, ScheduleConfig)
    return config


class TestConfig:
    def test_a_bare_schedule_is_valid(self) -> None:
        """``{type: schedule}`` is enough: the engine adds one like that for playbook triggers."""
        assert _parse({}).jobs == []

    @pytest.mark.parametrize(
        ("job", "fragment"),
        [
            ({"name": "x", "cron": "61 * * * *"}, "invalid cron expression '61 * * * *'"),
            ({"name": "x", "cron": "* * *"}, "invalid cron expression"),
            ({"name": "x", "cron": "@hourly", "timezone": "Europe/Pariss"}, "unknown timezone"),
        ],
    )
    def test_bad_jobs_are_refused(self, job: dict[str, str], fragment: str) -> None:
        """A bad cron or timezone is a ConfigError naming the job's field."""
        with pytest.raises(ConfigError, match=r"jobs\.0") as info:
            _parse({"jobs": [job]})
        assert fragment in str(info.value)

    def test_engine_jobs_with_bad_cron_are_refused(self, tmp_path: Path) -> None:
        """A malformed job from the engine fails at construction, not at fire time."""
        ctx = SourceContext(
            clock=FakeClock(),
            ids=SequentialIds(),
            state=cast(SourceState, Fires()),
            data_dir=tmp_path,
            extra={"scheduled_jobs": [{"job": "pb:0", "cron": "nope", "timezone": "UTC"}]},
        )
        with pytest.raises(ConfigError, match="pb:0"):
            Schedule(ScheduleConfig(type="schedule"), ctx)
