"""Runs as the dashboard and agents read them: the active ones, every run (paged, filtered),
and one run's timeline (its step attempts with durations, and the verdicts given on it).

The same reads as ``grace runs --active``, ``grace runs --status S --playbook P`` and
``grace runs show RUN_ID``.

External agents also record here the runs they performed themselves, outside Grace's runner
(``POST /api/agent/runs``, ``POST …/{run_id}/steps``, ``PUT …/{run_id}/complete``). A recorded
run has ``trigger = "external"``: it shows up in every read above and is audited like Grace's
own runs, and Grace's workers never claim, resume or interrupt it
(:mod:`grace.store._external_runs` says how).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from grace.api._auth import PrincipalDep, acting_as
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError
from grace.api.routes.governance import ApprovalReply
from grace.api.routes.runs import Identity, RunReply, call_engine, parse_body, run_reply
from grace.api.schemas import ErrorReply, openapi_body
from grace.runs import TERMINAL_STATUSES, Run, RunStatus, StepAttempt, StepStatus
from grace.store import EXTERNAL_TRIGGER, NotExternal

if TYPE_CHECKING:
    from grace.api._auth import Principal
    from grace.engine import Engine
    from grace.store import Approval

__all__ = (
    "MAX_DURATION_S",
    "CompleteBody",
    "RecordRunBody",
    "RecordStepBody",
    "RunPage",
    "StepReply",
    "TimelineReply",
    "as_utc",
    "router",
    "step_reply",
    "step_times",
)

T = TypeVar("T")

router = APIRouter(prefix="/api/agent/runs", tags=["runs"])

ALL_ROWS = 2**31 - 1
"""``limit`` that means every row (for totals the store cannot count yet)."""

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1…500).")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")]
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


# -- runs recorded by external agents ---------------------------------------------------------

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"),
]
"""A playbook, step or action name: letters, digits and ``_ . : / -``, at most 200."""
Text = Annotated[str, StringConstraints(max_length=10_000)]
MAX_DURATION_S = 366 * 24 * 3600.0
"""Longest step an agent may record (a year and a day)."""


class _RecordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordRunBody(_RecordBody):
    """``POST /api/agent/runs``: a run the agent is performing (or performed) itself."""

    agent: Identity | None = None
    """Who performed it (the audit log's actor; the run's ``requested_by``): the token's
    holder (may be left out; with auth off, required)."""
    playbook: Name
    """The name of what it ran (its own playbook or procedure; need not be one of Grace's)."""
    version: Annotated[str, StringConstraints(min_length=1, max_length=50)] = EXTERNAL_TRIGGER
    service: Identity
    """The service it repaired."""
    started_at: AwareDatetime | None = None
    """When it started (with a UTC offset); now when absent; never in the future."""
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """The event it answered; a stored event is copied onto the run."""
    reason: Text = ""
    """Why it ran (kept in the ``run.created`` audit entry)."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Its parameters, shown with the run."""


class RecordStepBody(_RecordBody):
    """``POST /api/agent/runs/{run_id}/steps``: one finished step attempt.

    Times: ``started_at`` and ``ended_at``; or one of them with ``duration_s``; or only
    ``duration_s`` (the step ended now); or none (now, zero length). Giving all three requires
    them to agree (to the millisecond).
    """

    name: Name
    """The step's name; a name recorded before on this run is a retry (next attempt)."""
    status: Literal["succeeded", "failed", "skipped"]
    action: Name = EXTERNAL_TRIGGER
    """What the step did (``service.restart``…)."""
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    duration_s: Annotated[float, Field(ge=0, le=MAX_DURATION_S, allow_inf_nan=False)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    """Named values it produced."""
    output: Annotated[str, StringConstraints(max_length=65_536)] | None = None
    """What it printed (kept as ``outputs.output``)."""
    error: Text | None = None
    agent: Identity | None = None
    """Who records it: the token's holder; with auth off, the run's agent when absent."""


class CompleteBody(_RecordBody):
    """``PUT /api/agent/runs/{run_id}/complete``: the run's final status."""

    status: Literal["succeeded", "failed"]
    error: Text | None = None
    finished_at: AwareDatetime | None = None
    """When it ended; now when absent; between the run's start and now."""
    agent: Identity | None = None
    """Who completes it: the token's holder; with auth off, the run's agent when absent."""


_WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    403: {"model": ErrorReply, "description": "The body names an agent other than the token's."},
    422: {"model": ErrorReply, "description": "The body is invalid (the field is named)."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}
_RUN_ERRORS: dict[int | str, dict[str, object]] = {
    **_WRITE_ERRORS,
    404: {"model": ErrorReply, "description": "No run (or no single run) has this id."},
    409: {
        "model": ErrorReply,
        "description": "The run is already completed, or Grace (not an agent) runs it.",
    },
}


def step_times(body: RecordStepBody, *, now: datetime) -> tuple[datetime, datetime]:
    """``(started, ended)`` for a step from whichever of the three times were given.

    Raises:
        ApiError: 422 when the times disagree, are reversed or cannot be represented.
    """
    start, end, took = body.started_at, body.ended_at, body.duration_s
    try:
        span = timedelta(seconds=took) if took is not None else None
        if start is not None and end is not None:
            if span is not None and abs((end - start) - span) > timedelta(milliseconds=1):
                msg = (
                    f"body.duration_s: {took:g} s does not match ended_at - started_at "
                    f"({(end - start).total_seconds():g} s)"
                )
                raise ApiError(422, msg, hint="give two of the three, or make them agree")
        elif start is not None:
            end = start + span if span is not None else now
        elif end is not None:
            start = end - span if span is not None else end
        else:
            end = now
            start = now - span if span is not None else now
    except OverflowError:
        msg = "body: the step's times fall outside the representable range"
        raise ApiError(422, msg, hint="send times near now") from None
    if end < start:
        msg = f"body.ended_at: {end.isoformat()} is before started_at {start.isoformat()}"
        raise ApiError(422, msg, hint="swap them, or send duration_s")
    return start, end


def as_utc(moment: datetime | None, where: str) -> datetime | None:
    """``moment`` in UTC (a time without an offset is UTC): what the store compares and keeps.

    Raises:
        ApiError: 422 naming ``where`` when the time cannot be represented in UTC.
    """
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        msg = f"{where}: {moment.isoformat()} falls outside the representable range in UTC"
        raise ApiError(422, msg, hint="send a time near now") from None


def _not_after(moment: datetime, now: datetime, field: str) -> None:
    if moment > now:
        msg = f"body.{field}: {moment.isoformat()} is in the future (now {now.isoformat()})"
        raise ApiError(422, msg, hint="send the time it happened, with its UTC offset")


def _not_before_run(moment: datetime, run: Run, field: str) -> None:
    began = run.started_at or run.created_at
    if moment < began:
        msg = f"body.{field}: {moment.isoformat()} is before the run started ({began.isoformat()})"
        raise ApiError(422, msg, hint="record the run with an earlier started_at")


def _actor(principal: Principal, claimed: str | None, run: Run) -> str:
    """Who writes to ``run``: the token's holder; with auth off, the body's agent, else the
    agent that recorded the run."""
    if principal.via == "open" and not claimed:
        return run.requested_by
    return acting_as(principal, claimed, "agent")


async def _recorded(engine: Engine, run_id: str) -> Run:
    """The run ``run_id`` (404 when unknown), refused with 409 unless it is an open recorded run."""
    run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)
    if run.trigger != EXTERNAL_TRIGGER:
        err = NotExternal(run.id, run.trigger)
        raise ApiError(409, str(err), hint=err.hint)
    if run.status in TERMINAL_STATUSES:
        msg = f"run {run.id} is already {run.status.value}; a completed run takes no more"
        raise ApiError(409, msg, hint="record a new run for another attempt")
    return run


async def _write(work: Callable[[], T]) -> T:
    """A store write; a time the store still refuses (it re-checks under its lock) is a 422."""
    try:
        return await call_engine(work)
    except ValueError as exc:
        raise ApiError(422, f"body: {exc}", hint="see /docs for the expected shape") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RunReply,
    responses=_WRITE_ERRORS,
    summary="Record a run an agent performs itself",
    openapi_extra=openapi_body(RecordRunBody, description="Who ran what, on which service."),
)
async def record_run(engine: EngineDep, principal: PrincipalDep, body: JsonBody) -> RunReply:
    """Open a run performed outside Grace's runner: it is ``running`` (``trigger`` is
    ``external``) until completed, listed with the active runs, audited (``run.created``,
    ``run.started``), and never executed by Grace's workers."""
    request = parse_body(RecordRunBody, body)
    agent = acting_as(principal, request.agent, "agent")
    started_at = as_utc(request.started_at, "body.started_at")
    if started_at is not None:
        _not_after(started_at, engine.clock.now(), "started_at")
    run = await _write(
        partial(
            engine.store.record_external_run,
            agent=agent,
            playbook=request.playbook,
            service=request.service,
            version=request.version,
            started_at=started_at,
            event_id=request.event_id,
            reason=request.reason,
            vars=request.vars,
        )
    )
    return run_reply(run)


@router.post(
    "/{run_id}/steps",
    status_code=status.HTTP_201_CREATED,
    response_model=StepReply,
    responses=_RUN_ERRORS,
    summary="Record one step of an agent's run",
    openapi_extra=openapi_body(RecordStepBody, description="The step, its outcome and times."),
)
async def record_step(
    engine: EngineDep, principal: PrincipalDep, run_id: RunId, body: JsonBody
) -> StepReply:
    """Append a finished step attempt (``succeeded``, ``failed`` or ``skipped``) to a recorded
    run; audited as ``step.<status>``. Its times lie between the run's start and now."""
    request = parse_body(RecordStepBody, body)
    request = request.model_copy(
        update={
            "started_at": as_utc(request.started_at, "body.started_at"),
            "ended_at": as_utc(request.ended_at, "body.ended_at"),
        }
    )
    run = await _recorded(engine, run_id)
    now = engine.clock.now()
    started, ended = step_times(request, now=now)
    _not_after(ended, now, "ended_at")
    _not_before_run(started, run, "started_at")
    outputs = dict(request.outputs)
    if request.output is not None:
        outputs["output"] = request.output
    attempt = await _write(
        partial(
            engine.store.record_external_step,
            run.id,
            actor=_actor(principal, request.agent, run),
            step=request.name,
            status=StepStatus(request.status),
            started_at=started,
            finished_at=ended,
            action=request.action,
            params=request.params,
            outputs=outputs,
            error=request.error,
        )
    )
    return step_reply(attempt, run.started_at or run.created_at)


@router.put(
    "/{run_id}/complete",
    response_model=RunReply,
    responses=_RUN_ERRORS,
    summary="Complete an agent's run",
    openapi_extra=openapi_body(CompleteBody, description="The final status, and the error."),
)
async def complete_run(
    engine: EngineDep, principal: PrincipalDep, run_id: RunId, body: JsonBody
) -> RunReply:
    """End a recorded run ``succeeded`` or ``failed``; audited as ``run.<status>``. A run is
    completed once: a second time is a 409."""
    request = parse_body(CompleteBody, body)
    finished_at = as_utc(request.finished_at, "body.finished_at")
    run = await _recorded(engine, run_id)
    if finished_at is not None:
        _not_after(finished_at, engine.clock.now(), "finished_at")
        _not_before_run(finished_at, run, "finished_at")
    done = await _write(
        partial(
            engine.store.complete_external_run,
            run.id,
            actor=_actor(principal, request.agent, run),
            status=RunStatus(request.status),
            finished_at=finished_at,
            error=request.error,
        )
    )
    return run_reply(done)
