"""Runs as the dashboard and agents read them: the active ones, every run (paged, filtered),
and one run's timeline (its step attempts with durations, and the verdicts given on it).

The same reads as ``grace runs --active``, ``grace runs --status S --playbook P`` and
``grace runs show RUN_ID``.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from grace.api._deps import EngineDep
from grace.api.routes.governance import ApprovalReply
from grace.api.routes.runs import RunReply, call_engine, run_reply
from grace.api.schemas import ErrorReply
from grace.runs import Run, RunStatus, StepAttempt

if TYPE_CHECKING:
    from grace.store import Approval

__all__ = ("RunPage", "StepReply", "TimelineReply", "router", "step_reply")

router = APIRouter(prefix="/api/agent/runs", tags=["runs"])

ALL_ROWS = 2**31 - 1
"""``limit`` that means every row (for totals the store cannot count yet)."""

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1…500).")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
PlaybookFilter = Annotated[
    str | None, Query(max_length=200, description="Only runs of this playbook.")
]
RunId = Annotated[str, Path(min_length=1, max_length=64, description="A run id or its prefix.")]


class RunPage(BaseModel):
    """One page of runs, newest first."""

    total: int
    """Runs matching the filters in all (not only on this page)."""
    limit: int
    offset: int
    items: list[RunReply]


class StepReply(BaseModel):
    """One attempt of one step."""

    id: int
    step: str
    phase: str
    """``main``, ``on_failure`` or ``on_success``."""
    index: int
    """Position of the step within its phase (0-based)."""
    attempt: int
    """1 for the first try, 2 for the first retry…"""
    action: str
    status: str
    """``started``, ``succeeded``, ``failed``, ``skipped``, ``timed_out``, ``interrupted``…"""
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    """None while the attempt is still open."""
    offset_ms: float
    """When the attempt started, in milliseconds after the run started (for a timeline chart)."""
    params: dict[str, Any]
    """Rendered parameters (secrets redacted)."""
    outputs: dict[str, Any]
    error: str | None


class TimelineReply(BaseModel):
    """A run, every step attempt in the order they started, and every verdict given on it."""

    run: RunReply
    steps: list[StepReply]
    approvals: list[ApprovalReply]


_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorReply, "description": "A query parameter is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


def step_reply(attempt: StepAttempt, origin: datetime) -> StepReply:
    """The reply body for ``attempt``; ``origin`` is when its run started."""
    return StepReply(
        id=attempt.id,
        step=attempt.step,
        phase=attempt.phase.value,
        index=attempt.index,
        attempt=attempt.attempt,
        action=attempt.action,
        status=attempt.status.value,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        duration_ms=attempt.duration_ms,
        offset_ms=round((attempt.started_at - origin).total_seconds() * 1000, 3),
        params=attempt.params,
        outputs=attempt.outputs,
        error=attempt.error,
    )


def _page(runs: list[Run], total: int, limit: int, offset: int) -> RunPage:
    return RunPage(total=total, limit=limit, offset=offset, items=[run_reply(r) for r in runs])


@router.get(
    "/active",
    response_model=RunPage,
    responses=_ERRORS,
    summary="Runs in progress or waiting",
)
async def active(
    engine: EngineDep,
    playbook: PlaybookFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Runs proposed, awaiting approval, blocked by the change window, queued or running,
    newest first (as ``grace runs --active``).
    """
    every = await call_engine(
        partial(engine.store.list_runs, active=True, playbook=playbook, limit=ALL_ROWS)
    )
    return _page(every[offset : offset + limit], len(every), limit, offset)


@router.get("", response_model=RunPage, responses=_ERRORS, summary="Every run, newest first")
async def list_runs(
    engine: EngineDep,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status.")] = None,
    playbook: PlaybookFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Runs, newest first, filtered by status and playbook (as ``grace runs``)."""
    wanted = status.value if status is not None else None

    def read() -> tuple[list[Run], int]:
        page = engine.store.list_runs(status=wanted, playbook=playbook, limit=limit, offset=offset)
        if playbook is None:
            return page, engine.store.count_runs(status=wanted)
        every = engine.store.list_runs(status=wanted, playbook=playbook, limit=ALL_ROWS)
        return page, len(every)

    page, total = await call_engine(read)
    return _page(page, total, limit, offset)


@router.get(
    "/{run_id}/timeline",
    response_model=TimelineReply,
    responses={
        **_ERRORS,
        404: {"model": ErrorReply, "description": "No run (or no single run) has this id."},
    },
    summary="One run's timeline",
)
async def timeline(engine: EngineDep, run_id: RunId) -> TimelineReply:
    """The run (by id or unique prefix of at least 6 characters), each step attempt with its
    duration and its offset from the run's start, and every approval or rejection.
    """
    run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)

    def read() -> tuple[list[StepAttempt], list[Approval]]:
        return engine.store.step_attempts(run.id), engine.store.approvals_of(run.id)

    attempts, verdicts = await call_engine(read)
    origin = run.started_at or run.created_at
    return TimelineReply(
        run=run_reply(run),
        steps=[step_reply(a, origin) for a in attempts],
        approvals=[
            ApprovalReply(
                approver=v.approver,
                verdict=v.verdict,
                reason=v.reason,
                override_window=v.override_window,
                created_at=v.created_at,
            )
            for v in verdicts
        ],
    )
