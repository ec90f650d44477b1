"""Detection → remediation cycles: a detected failure, the governor's decision, the run(s) it
started and how it ended.

A cycle is rooted at a run the pipeline created from an event (``trigger = "event"``, no
parent): that run carries the event (first seen), its incident (the dedupe key
``playbook:signature``) and the repeats suppressed while it was open. The decision is the
``decision.<kind>`` audit entry written on the run; further runs are those it launched
(``playbook.run``, ``parent_run_id``). The incident group adds the circuit breaker's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from grace.runs import ACTIVE_STATUSES, Run
from grace.store._convert import aware, run_from_row
from grace.store._reads import Reads
from grace.store._tables import audit_log as _audit
from grace.store._tables import incident_groups as _groups
from grace.store._tables import runs as _runs

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

__all__ = ("OPEN", "Cycle", "CycleReads")

OPEN = "open"
"""The outcome of a cycle whose run is still active (pending, queued or running)."""


@dataclass(frozen=True, slots=True)
class Cycle:
    """One detection → remediation cycle."""

    run: Run
    """The run the detection started (its event, incident, status and times)."""
    decision: str | None
    """The governor's decision kind (``queued``, ``awaiting_approval``, ``proposed``…)."""
    decision_reason: str
    children: list[Run] = field(default_factory=list)
    """Runs it launched, oldest first."""
    circuit_open_until: datetime | None = None
    """When the incident's circuit breaker closes again, if it was opened."""


class CycleReads(Reads):
    """The store's cycle reads (mixed into :class:`grace.store.Store`)."""

    def list_cycles(
        self,
        *,
        playbook: str | None = None,
        service: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Cycle], int]:
        """Cycles, newest first, filtered; and how many match.

        ``outcome`` is a run status or :data:`OPEN` (any active status); ``since`` keeps the
        cycles whose run was created at or after it.
        """
        r = _runs.c
        where: list[ColumnElement[bool]] = [r.trigger == "event", r.parent_run_id.is_(None)]
        if playbook:
            where.append(r.playbook == playbook)
        if service is not None:
            where.append(r.service == service)
        if outcome == OPEN:
            where.append(r.status.in_([s.value for s in ACTIVE_STATUSES]))
        elif outcome:
            where.append(r.status == outcome)
        if since is not None:
            where.append(r.created_at >= since)
        with self._read() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(_runs).where(*where)).scalar_one()
            )
            roots = [
                run_from_row(row)
                for row in conn.execute(
                    select(_runs)
                    .where(*where)
                    .order_by(r.created_at.desc(), r.id.desc())
                    .limit(limit)
                    .offset(offset)
                ).all()
            ]
            ids = [run.id for run in roots]
            children: dict[str, list[Run]] = {}
            decisions: dict[str, tuple[str, str]] = {}
            circuits: dict[str, datetime | None] = {}
            if ids:
                for row in conn.execute(
                    select(_runs).where(r.parent_run_id.in_(ids)).order_by(r.created_at, r.id)
                ).all():
                    child = run_from_row(row)
                    children.setdefault(child.parent_run_id or "", []).append(child)
                a = _audit.c
                for subject, action, payload in conn.execute(
                    select(a.subject, a.action, a.payload)
                    .where(a.subject.in_(ids), a.action.startswith("decision."))
                    .order_by(a.seq)
                ).all():
                    if subject not in decisions:
                        decisions[subject] = (
                            str(action).removeprefix("decision."),
                            _reason(payload),
                        )
                keys = sorted({run.dedupe_key for run in roots if run.dedupe_key})
                if keys:
                    g = _groups.c
                    for key, until in conn.execute(
                        select(g.key, g.circuit_open_until).where(g.key.in_(keys))
                    ).all():
                        circuits[key] = aware(until)
        cycles = [
            Cycle(
                run=run,
                decision=decisions.get(run.id, (None, ""))[0],
                decision_reason=decisions.get(run.id, (None, ""))[1],
                children=children.get(run.id, []),
                circuit_open_until=circuits.get(run.dedupe_key or ""),
            )
            for run in roots
        ]
        return cycles, total


def _reason(payload: Any) -> str:
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return ""
    return str(data.get("reason", "")) if isinstance(data, dict) else ""
