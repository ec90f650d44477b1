"""``GET /api/meta/cycles``: recent detection → remediation cycles, with time to recover.

A cycle starts with an event the pipeline matched and decided on, and goes through the
governor's decision, the run (and any run it launched) to an outcome. Its time to recover
(MTTR) runs from the event to the run's success. Read from the store (runs, the decision
audit entries, incident groups): :mod:`grace.store._cycles`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from grace.api._deps import EngineDep
from grace.api.routes.agent_runs import Limit, Offset, PlaybookFilter, as_utc
from grace.api.routes.runs import call_engine
from grace.api.schemas import ErrorReply
from grace.runs import ACTIVE_STATUSES, RunStatus
from grace.store import OPEN, Cycle

__all__ = ("CyclePage", "CycleReply", "CycleRun", "cycle_reply", "router")

router = APIRouter(prefix="/api/meta", tags=["overview"])

Outcome = Literal[
    "open",
    "succeeded",
    "failed",
    "rolled_back",
    "timed_out",
    "aborted",
    "interrupted",
    "rejected",
    "expired",
]


class CycleRun(BaseModel):
    """A run launched within a cycle."""

    id: str
    playbook: str
    status: str


class CycleReply(BaseModel):
    """One detection → remediation cycle."""

    run_id: str
    """The run the detection started."""
    incident: str | None
    """The incident group (``playbook:signature``)."""
    playbook: str
    service: str
    event_id: str | None
    event_message: str
    severity: str
    detected_at: datetime
    """When the event happened (the run's creation when the event has no time)."""
    decided_at: datetime
    """When the governor decided (the run was created)."""
    decision: str | None
    """``queued``, ``awaiting_approval``, ``proposed``, ``blocked``… (None: not recorded)."""
    decision_reason: str
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str
    """``open`` while the run is active, else its final status."""
    recovered: bool
    """The run succeeded."""
    time_to_decide_s: float
    time_to_recover_s: float | None
    """Event → success (MTTR's term); None unless recovered."""
    suppressed_repeats: int
    """Repeats of the incident suppressed while the run was open."""
    runs: list[CycleRun]
    """Runs it launched, oldest first."""
    circuit_open_until: datetime | None


class CyclePage(BaseModel):
    """One page of cycles, newest first."""

    total: int
    limit: int
    offset: int
    mean_time_to_recover_s: float | None
    """Mean ``time_to_recover_s`` of this page's recovered cycles."""
    items: list[CycleReply]


def _detected(cycle: Cycle) -> datetime:
    raw = cycle.run.event.get("time")
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return cycle.run.created_at


def cycle_reply(cycle: Cycle) -> CycleReply:
    """The reply body for ``cycle``."""
    run = cycle.run
    detected = _detected(cycle)
    recovered = run.status is RunStatus.SUCCEEDED and run.finished_at is not None
    return CycleReply(
        run_id=run.id,
        incident=run.dedupe_key,
        playbook=run.playbook,
        service=run.service,
        event_id=run.event.get("id"),
        event_message=str(run.event.get("message", "")),
        severity=run.severity,
        detected_at=detected,
        decided_at=run.created_at,
        decision=cycle.decision,
        decision_reason=cycle.decision_reason,
        started_at=run.started_at,
        finished_at=run.finished_at,
        outcome=OPEN if run.status in ACTIVE_STATUSES else run.status.value,
        recovered=recovered,
        time_to_decide_s=round((run.created_at - detected).total_seconds(), 3),
        time_to_recover_s=round((run.finished_at - detected).total_seconds(), 3)
        if recovered and run.finished_at is not None
        else None,
        suppressed_repeats=run.suppressed,
        runs=[
            CycleRun(id=c.id, playbook=c.playbook, status=c.status.value) for c in cycle.children
        ],
        circuit_open_until=cycle.circuit_open_until,
    )


@router.get(
    "/cycles",
    response_model=CyclePage,
    responses={
        422: {"model": ErrorReply, "description": "A query parameter is invalid."},
        503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
    },
    summary="Recent detection → remediation cycles, with time to recover",
)
async def cycles(
    engine: EngineDep,
    playbook: PlaybookFilter = None,
    service: Annotated[
        str | None, Query(max_length=200, description="Only cycles on this service.")
    ] = None,
    outcome: Annotated[
        Outcome | None, Query(description="``open`` (still active) or a final status.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only cycles decided at or after this time (UTC).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CyclePage:
    """Each cycle: when the failure was detected, what the governor decided and why, the
    run(s), the outcome, and the time to recover; newest first."""
    found, total = await call_engine(
        partial(
            engine.store.list_cycles,
            playbook=playbook,
            service=service,
            outcome=outcome,
            since=as_utc(since, "query.since"),
            limit=limit,
            offset=offset,
        )
    )
    items = [cycle_reply(c) for c in found]
    times = [c.time_to_recover_s for c in items if c.time_to_recover_s is not None]
    return CyclePage(
        total=total,
        limit=limit,
        offset=offset,
        mean_time_to_recover_s=round(sum(times) / len(times), 3) if times else None,
        items=items,
    )
