"""Outcome reads for learning: how each playbook fared, by window, signature and trigger.

The source is the ``runs`` table: every run that executed and ended (``succeeded``, ``failed``,
``rolled_back``, ``timed_out``, ``aborted``, ``interrupted``) is one outcome, Grace's own and
those recorded by external agents alike. Runs that never executed (``rejected``, ``expired``)
are not outcomes. One ``GROUP BY`` per window does the counting in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, case, cast, extract, func, select

from grace.runs import Run, RunStatus
from grace.store._convert import run_from_row
from grace.store._reads import Reads
from grace.store._tables import runs as _runs

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection

__all__ = ("OUTCOME_STATUSES", "LearningReads", "OutcomeGroup", "seconds_between")

OUTCOME_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.ROLLED_BACK,
    RunStatus.TIMED_OUT,
    RunStatus.ABORTED,
    RunStatus.INTERRUPTED,
)
"""Final statuses of runs that executed: each is an outcome (only ``succeeded`` a success)."""


@dataclass(frozen=True, slots=True)
class OutcomeGroup:
    """Outcomes of one (playbook, signature, trigger) within a window."""

    playbook: str
    signature: str
    """The incident signature (the dedupe key after ``playbook:``); empty when the run had none."""
    trigger: str
    runs: int
    succeeded: int
    duration_sum_s: float
    """Sum of ``finished_at - started_at`` over the runs that have both."""
    timed: int
    """How many runs the duration sum covers."""


def seconds_between(
    conn: Connection, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[float]:
    """``end - start`` in seconds, as SQL for this connection's dialect."""
    if conn.dialect.name == "sqlite":
        # julianday keeps milliseconds; rounding drops the error of its day-fraction double.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return cast(extract("epoch", end - start), Float)


class LearningReads(Reads):
    """The store's learning reads (mixed into :class:`grace.store.Store`)."""

    def outcome_groups(self, *, since: datetime) -> list[OutcomeGroup]:
        """Outcomes of runs that finished at or after ``since``, per playbook, signature and
        trigger, sorted by playbook."""
        r = _runs.c
        with self._read() as conn:
            took = seconds_between(conn, r.started_at, r.finished_at)
            timed = r.started_at.is_not(None)
            rows = conn.execute(
                select(
                    r.playbook,
                    r.dedupe_key,
                    r.trigger,
                    func.count(),
                    func.sum(case((r.status == RunStatus.SUCCEEDED.value, 1), else_=0)),
                    func.sum(case((timed, took), else_=0.0)),
                    func.sum(case((timed, 1), else_=0)),
                )
                .where(
                    r.finished_at >= since,
                    r.status.in_([s.value for s in OUTCOME_STATUSES]),
                )
                .group_by(r.playbook, r.dedupe_key, r.trigger)
            ).all()
        groups = [
            OutcomeGroup(
                playbook=str(playbook),
                signature=_signature(str(playbook), key),
                trigger=str(trigger),
                runs=int(count),
                succeeded=int(ok or 0),
                duration_sum_s=max(float(total or 0.0), 0.0),
                timed=int(n or 0),
            )
            for playbook, key, trigger, count, ok, total, n in rows
        ]
        return sorted(groups, key=lambda g: (g.playbook, g.signature, g.trigger))

    def list_outcomes(
        self,
        *,
        playbook: str | None = None,
        service: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """Finished runs (outcomes), newest finish first, filtered; and how many match."""
        r = _runs.c
        where: list[ColumnElement[bool]] = [
            r.status.in_([s.value for s in OUTCOME_STATUSES]),
            r.finished_at.is_not(None),
        ]
        if playbook:
            where.append(r.playbook == playbook)
        if service is not None:
            where.append(r.service == service)
        if status:
            where.append(r.status == status)
        if since is not None:
            where.append(r.finished_at >= since)
        with self._read() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(_runs).where(*where)).scalar_one()
            )
            rows = conn.execute(
                select(_runs)
                .where(*where)
                .order_by(r.finished_at.desc(), r.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [run_from_row(row) for row in rows], total


def _signature(playbook: str, dedupe_key: str | None) -> str:
    if not dedupe_key:
        return ""
    head, sep, tail = dedupe_key.partition(":")
    return tail if sep and head == playbook else dedupe_key
