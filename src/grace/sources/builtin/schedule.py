"""The ``schedule`` source: cron jobs, read in their own timezone, for ``type: scheduled`` triggers.

Jobs come from the playbooks (the engine passes them in ``ctx.extra["scheduled_jobs"]``, one per
scheduled trigger, named ``<playbook>:<trigger index>``) and from the source's own ``jobs:``.

Each fire is claimed as a row keyed by ``(job, slot)`` (``state.record_fire``) before its event is
emitted, so a duplicate fire (a second node, a restart mid-fire) is a no-op. The slot is the UTC
instant of the cron's wall-clock time, e.g. ``2026-03-29T00:30:00Z``.

Wall-clock rules: a local time that does not exist (the hour skipped when DST starts) is skipped;
a local time that exists twice (the hour repeated when DST ends) fires once, at its first
occurrence.

Missed fires: when Grace starts (or the clock jumps) past one or more slots, the job fires once,
for the most recent slot only, never as a burst. A job seen for the first time does not fire for
slots before it existed. Older missed slots are not replayed.

```yaml
sources:
  - type: schedule
    jobs:
      - {name: nightly_vacuum, cron: '30 2 * * *', timezone: Europe/Paris, playbook: vacuum}
```
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from grace.errors import ConfigError
from grace.events import Event
from grace.sources._base import Emit, SourceConfig, SourceContext, source

__all__ = (
    "REGISTERED_SLOT",
    "CronJob",
    "JobSpec",
    "Schedule",
    "ScheduleConfig",
    "next_slot",
    "previous_slot",
)

REGISTERED_SLOT = "registered"
"""The slot claimed once per job when it is first seen: it tells a new job from a known one."""

_MAX_STEPS = 10_000
"""Bound on cron candidates examined per lookup (skipped DST times cost a step each)."""


class JobSpec(BaseModel):
    """One job listed in the source's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    """The job's name: its fires are claimed as ``(name, slot)``."""
    cron: str
    """Five-field cron expression (or ``@hourly``, ``@daily``…)."""
    timezone: str = "UTC"
    """IANA timezone the expression is read in."""
    playbook: str = ""
    """The playbook it is for, copied into the event's attributes."""

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter  # here: only a configured schedule pays for it

        if not croniter.is_valid(value):
            msg = f"invalid cron expression {value!r} (minute hour day-of-month month day-of-week)"
            raise ValueError(msg)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if _find_zone(value) is None:
            msg = f"unknown timezone {value!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
            raise ValueError(msg)
        return value


class ScheduleConfig(SourceConfig):
    """The scheduler; one is enough (the engine adds one when playbooks have scheduled triggers)."""

    jobs: list[JobSpec] = Field(default_factory=list)
    """Jobs besides the ones the playbooks declare."""
    max_sleep_s: float = Field(default=60.0, ge=0.01, le=3600)
    """Longest single sleep; the next fire is recomputed after it (so clock jumps are noticed)."""
    catch_up: bool = True
    """Fire once for the most recent slot missed while Grace was down."""


@dataclass(frozen=True, slots=True)
class CronJob:
    """A job ready to run: its cron read in its timezone."""

    job: str
    cron: str
    zone: zoneinfo.ZoneInfo
    playbook: str = ""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> CronJob:
        """From the engine's ``{"job", "playbook", "cron", "timezone"}``."""
        from croniter import croniter

        job, cron = str(raw.get("job", "")), str(raw.get("cron", ""))
        if not job or not croniter.is_valid(cron):
            msg = f"scheduled job {dict(raw)!r} needs 'job' and a valid 'cron'"
            raise ConfigError(msg, hint="the playbook's trigger should have failed validation")
        return cls(
            job, cron, _zone(str(raw.get("timezone") or "UTC")), str(raw.get("playbook", ""))
        )


@source("schedule", config=ScheduleConfig)
class Schedule:
    """Fire ``scheduled`` events for cron jobs, once per (job, slot) across restarts and nodes."""

    def __init__(self, config: ScheduleConfig, ctx: SourceContext) -> None:
        self.config = config
        self.name = config.name or "schedule"
        self._ctx = ctx
        jobs = [CronJob.from_mapping(raw) for raw in ctx.extra.get("scheduled_jobs", ())]
        jobs += [CronJob(j.name, j.cron, _zone(j.timezone), j.playbook) for j in config.jobs]
        self.jobs: dict[str, CronJob] = {j.job: j for j in jobs}

    async def run(self, emit: Emit) -> None:
        """Catch up, then sleep to each next slot and fire it; until cancelled."""
        if not self.jobs:
            await anyio.sleep_forever()
        clock = self._ctx.clock
        cursor: dict[str, datetime] = {}
        for job in self.jobs.values():
            cursor[job.job] = await self._start(job, emit)
        while True:
            now = clock.now()
            upcoming = {name: next_slot(self.jobs[name], after) for name, after in cursor.items()}
            due = [name for name, slot in upcoming.items() if slot <= now]
            for name in due:
                # The latest slot not after now: a jump over several slots fires once.
                slot = previous_slot(self.jobs[name], now)
                await self._fire(self.jobs[name], slot, emit, catch_up=slot != upcoming[name])
                cursor[name] = slot
            if due:
                continue
            wait = (min(upcoming.values()) - now).total_seconds()
            await clock.sleep(min(wait, self.config.max_sleep_s))

    async def _start(self, job: CronJob, emit: Emit) -> datetime:
        """Handle the slot just before now: fire it if it was missed; return the cursor."""
        now = self._ctx.clock.now()
        last = previous_slot(job, now)
        new_job = await self._claim(job.job, REGISTERED_SLOT)
        if new_job or not self.config.catch_up:
            # Slots before the job existed (or ignored misses) are claimed without an event.
            await self._claim(job.job, _slot_id(last))
        else:
            await self._fire(job, last, emit, catch_up=True)
        return now

    async def _fire(self, job: CronJob, slot: datetime, emit: Emit, *, catch_up: bool) -> None:
        slot_id = _slot_id(slot)
        if not await self._claim(job.job, slot_id):
            return
        local = slot.astimezone(job.zone)
        event = Event(
            id=self._ctx.ids.new("evt"),
            time=self._ctx.clock.now(),
            source=self.name,
            kind="scheduled",
            service=self.config.service,
            severity="info",
            message=f"scheduled {job.job} for {slot_id} (cron {job.cron!r} in {job.zone.key})",
            attributes={
                "playbook": job.playbook,
                "job": job.job,
                "slot": slot_id,
                "local_time": local.isoformat(),
                "cron": job.cron,
                "timezone": job.zone.key,
                "catch_up": catch_up,
            },
        )
        await emit(event, f"{job.job}:{slot_id}")

    async def _claim(self, job: str, slot: str) -> bool:
        return bool(await anyio.to_thread.run_sync(self._ctx.state.record_fire, job, slot))


def next_slot(job: CronJob, after: datetime) -> datetime:
    """The first fire strictly after ``after`` (UTC), by the wall clock of the job's timezone."""
    local = after.astimezone(job.zone).replace(tzinfo=None)
    for slot in _slots(job, local, forward=True):
        if slot > after:
            return slot
    msg = f"cron {job.cron!r} has no fire after {after.isoformat()}"
    raise ConfigError(msg)


def previous_slot(job: CronJob, at: datetime) -> datetime:
    """The last fire at or before ``at`` (UTC), by the wall clock of the job's timezone."""
    local = at.astimezone(job.zone).replace(tzinfo=None)
    # croniter's get_prev is strict; start a microsecond later so a fire exactly at ``at`` counts.
    for slot in _slots(job, local + timedelta(microseconds=1), forward=False):
        if slot <= at:
            return slot
    msg = f"cron {job.cron!r} has no fire before {at.isoformat()}"
    raise ConfigError(msg)


def _slots(job: CronJob, start: datetime, *, forward: bool) -> Iterator[datetime]:
    """Existing wall-clock fires from the naive local ``start``, as UTC instants.

    A wall time that does not exist is skipped. One that exists twice maps to its first
    occurrence (``fold=0``), so the repeated hour fires once.
    """
    from croniter import croniter

    it = croniter(job.cron, start)
    step = it.get_next if forward else it.get_prev
    for _ in range(_MAX_STEPS):
        wall: datetime = step(datetime)
        aware = wall.replace(tzinfo=job.zone, fold=0)
        instant = aware.astimezone(UTC)
        if instant.astimezone(job.zone).replace(tzinfo=None) != wall:
            continue  # skipped by a DST jump: this wall time never happens
        yield instant


def _slot_id(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _find_zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _zone(name: str) -> zoneinfo.ZoneInfo:
    zone = _find_zone(name)
    if zone is None:
        msg = f"unknown timezone {name!r}"
        raise ConfigError(msg, hint="use an IANA name such as 'UTC' or 'Europe/Paris'")
    return zone
