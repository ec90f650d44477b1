"""Is the runner making progress? What the store can tell about the queue and the workers.

These reads see every node's runs (the queue is rows), so any process can answer them: an
API served outside the daemon, ``grace status``, a second node. Runs recorded by external
agents (``trigger = "external"``) are counted apart: Grace's workers never execute them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from grace.runs import RunStatus
from grace.store._convert import aware
from grace.store._external_runs import EXTERNAL_TRIGGER
from grace.store._learning import OUTCOME_STATUSES
from grace.store._reads import Reads
from grace.store._tables import audit_log as _audit
from grace.store._tables import events as _events
from grace.store._tables import runs as _runs

if TYPE_CHECKING:
    from datetime import timedelta

__all__ = ("ProgressReads", "RunnerProgress", "StoreCounters")


@dataclass(frozen=True, slots=True)
class RunnerProgress:
    """The queue and the workers, as the ``runs`` table shows them at ``now``."""

    now: datetime
    queued: int
    """Runs waiting for a worker."""
    queued_stale: int
    """Queued runs created before ``now - stale_after``."""
    oldest_queued_at: datetime | None
    running: int
    """Runs Grace's workers hold (recorded runs left out)."""
    running_external: int
    """Open runs recorded by external agents (never executed by Grace's workers)."""
    lease_expired: int
    """Running runs whose worker lease has expired (a dead or stalled worker)."""
    last_started_at: datetime | None
    """When a worker last started (or resumed) one of Grace's runs."""
    last_finished_at: datetime | None
    """When one of Grace's runs last ended after executing."""


@dataclass(frozen=True, slots=True)
class StoreCounters:
    """Totals the store holds since the database was created (every node's work)."""

    events: int
    """Events recorded."""
    decisions: dict[str, int]
    """Governor decisions by kind (from the ``decision.<kind>`` audit entries)."""
    runs: dict[str, int]
    """Runs by status."""


class ProgressReads(Reads):
    """The store's progress reads (mixed into :class:`grace.store.Store`)."""

    def runner_progress(self, *, now: datetime, stale_after: timedelta) -> RunnerProgress:
        """The queue and the workers at ``now``; queued runs older than ``stale_after`` are
        stale."""
        r = _runs.c
        own = r.trigger != EXTERNAL_TRIGGER
        queued = r.status == RunStatus.QUEUED.value
        running = r.status == RunStatus.RUNNING.value
        with self._read() as conn:
            counts = conn.execute(
                select(
                    func.count().filter(queued),
                    func.count().filter(queued, r.created_at < now - stale_after),
                    func.min(r.created_at).filter(queued),
                    func.count().filter(running, own),
                    func.count().filter(running, r.trigger == EXTERNAL_TRIGGER),
                    func.count().filter(
                        running, own, r.lease_expires_at.is_not(None), r.lease_expires_at < now
                    ),
                    func.max(r.started_at).filter(own),
                )
            ).one()
            last_finished = conn.execute(
                select(func.max(r.finished_at)).where(
                    own, r.status.in_([s.value for s in OUTCOME_STATUSES])
                )
            ).scalar()
        return RunnerProgress(
            now=now,
            queued=int(counts[0]),
            queued_stale=int(counts[1]),
            oldest_queued_at=aware(counts[2]),
            running=int(counts[3]),
            running_external=int(counts[4]),
            lease_expired=int(counts[5]),
            last_started_at=aware(counts[6]),
            last_finished_at=aware(last_finished),
        )

    def store_counters(self) -> StoreCounters:
        """Events recorded, decisions by kind and runs by status, in all."""
        a, r = _audit.c, _runs.c
        with self._read() as conn:
            events = int(conn.execute(select(func.count()).select_from(_events)).scalar_one())
            decisions = conn.execute(
                select(a.action, func.count())
                .where(a.action.startswith("decision."))
                .group_by(a.action)
            ).all()
            runs = conn.execute(select(r.status, func.count()).group_by(r.status)).all()
        return StoreCounters(
            events=events,
            decisions={
                str(action).removeprefix("decision."): int(n) for action, n in sorted(decisions)
            },
            runs={str(status): int(n) for status, n in sorted(runs)},
        )
