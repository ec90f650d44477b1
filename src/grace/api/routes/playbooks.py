"""What playbooks are loaded (and which files were rejected, with why), and how their runs went:
runs by status, success rate, mean duration and last run, for one playbook or for all.

``GET /api/playbooks/status`` answers what ``grace playbooks list --json`` prints, from the
engine's loaded library (no reload). The statistics read the runs the store holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from grace.api._auth import PrincipalDep, acting_as
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError
from grace.api.routes.agent_runs import ALL_ROWS, Limit, Offset
from grace.api.routes.runs import Identity, RunReply, call_engine, parse_body, run_reply
from grace.api.schemas import ErrorReply, openapi_body
from grace.errors import PlaybookError
from grace.playbooks import Playbook
from grace.runs import Run, RunStatus

__all__ = (
    "OUTCOME_STATUSES",
    "PlaybookInfo",
    "PlaybookStats",
    "PlaybookStatusReply",
    "PlaybooksMetricsReply",
    "RejectedFile",
    "router",
    "stats_of",
)

router = APIRouter(prefix="/api/playbooks", tags=["playbooks"])

OUTCOME_STATUSES: frozenset[RunStatus] = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.ROLLED_BACK,
        RunStatus.TIMED_OUT,
        RunStatus.ABORTED,
        RunStatus.INTERRUPTED,
    }
)
"""Final statuses of runs that ran: the success rate is ``succeeded`` over these (a rejected
or expired run never ran, so it counts for neither)."""


class PlaybookInfo(BaseModel):
    """A loaded playbook and what the governor weighs about it."""

    name: str
    version: str
    description: str
    owner: str
    priority: str
    """``high``, ``medium`` or ``low``."""
    risk_level: str
    autonomy_tier: int
    auto_trigger: bool
    requires_approval: bool
    triggers: int
    """How many triggers it declares."""
    trigger_types: list[str]
    steps: int
    tags: list[str]
    file: str
    bundled: bool
    disabled: SwitchState | None = None
    """Set while an operator has turned the playbook off (it starts nothing)."""


class SwitchState(BaseModel):
    """Who turned a playbook off, when and why."""

    by: str
    reason: str
    at: datetime


class SwitchBody(BaseModel):
    """``POST /api/playbooks/{name}/disable`` and ``…/enable``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = ""
    """Why (required to disable: it is what the next operator reads)."""
    by: Identity | None = None
    """Who: the token's holder (may be left out; with auth off, required)."""


class SwitchReply(BaseModel):
    """The playbook's switch after the request."""

    name: str
    disabled: bool
    changed: bool
    """False: it already was in that state (a second disable keeps the first reason)."""
    state: SwitchState | None = None


class ProblemReply(BaseModel):
    """One fault in a rejected file."""

    line: int
    """1-based; 0 when it concerns the whole file."""
    column: int
    field: str
    message: str
    hint: str | None


class RejectedFile(BaseModel):
    """A playbook file that failed to load, with every fault found in it."""

    file: str
    problems: list[ProblemReply]


class PlaybookStatusReply(BaseModel):
    """One page of loaded playbooks by name, and every rejected file."""

    total: int
    """Loaded playbooks matching the filters in all."""
    limit: int
    offset: int
    items: list[PlaybookInfo]
    rejected: list[RejectedFile]


class PlaybookStats(BaseModel):
    """How the runs of one playbook went."""

    name: str
    loaded: bool
    """False: runs remain but the playbook is no longer loaded."""
    total_runs: int
    runs_by_status: dict[str, int]
    """Every run status, 0 when none."""
    success_rate: float | None
    """``succeeded`` over the runs that ran to an outcome; None before the first outcome."""
    mean_duration_s: float | None
    """Mean start-to-finish time of the runs that ran to an outcome."""
    last_run: RunReply | None
    """The newest run."""


class PlaybooksMetricsReply(BaseModel):
    """One page of per-playbook statistics, by name."""

    total: int
    limit: int
    offset: int
    items: list[PlaybookStats]


_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorReply, "description": "A query parameter is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


def _info(pb: Playbook, off: dict[str, Any] | None = None) -> PlaybookInfo:
    meta = pb.spec.metadata
    return PlaybookInfo(
        disabled=None if off is None else SwitchState.model_validate(off),
        name=pb.name,
        version=pb.version,
        description=meta.description,
        owner=meta.owner,
        priority=pb.spec.priority,
        risk_level=meta.risk_level,
        autonomy_tier=meta.autonomy_tier,
        auto_trigger=meta.auto_trigger,
        requires_approval=meta.requires_approval,
        triggers=len(pb.spec.triggers),
        trigger_types=[t.type for t in pb.spec.triggers],
        steps=len(pb.steps),
        tags=list(meta.tags),
        file=pb.file,
        bundled=pb.bundled,
    )


def _rejected(errors: Iterable[PlaybookError]) -> list[RejectedFile]:
    files: dict[str, list[ProblemReply]] = {}
    for err in errors:
        for p in err.problems:
            files.setdefault(p.file, []).append(
                ProblemReply(
                    line=p.line, column=p.column, field=p.field, message=p.message, hint=p.hint
                )
            )
    return [RejectedFile(file=f, problems=problems) for f, problems in sorted(files.items())]


def stats_of(name: str, runs: list[Run], *, loaded: bool) -> PlaybookStats:
    """Statistics over ``runs`` (all runs of ``name``, newest first)."""
    by_status = {s.value: 0 for s in RunStatus}
    for run in runs:
        by_status[run.status.value] += 1
    outcomes = [r for r in runs if r.status in OUTCOME_STATUSES]
    durations = [d for r in outcomes if (d := r.duration_s) is not None]
    succeeded = by_status[RunStatus.SUCCEEDED.value]
    return PlaybookStats(
        name=name,
        loaded=loaded,
        total_runs=len(runs),
        runs_by_status=by_status,
        success_rate=round(succeeded / len(outcomes), 4) if outcomes else None,
        mean_duration_s=round(sum(durations) / len(durations), 3) if durations else None,
        last_run=run_reply(runs[0]) if runs else None,
    )


@router.get(
    "/status",
    response_model=PlaybookStatusReply,
    responses=_ERRORS,
    summary="Loaded playbooks and rejected files",
)
async def status(
    engine: EngineDep,
    risk_level: Annotated[
        Literal["low", "medium", "high", "critical"] | None,
        Query(description="Only playbooks of this risk level."),
    ] = None,
    auto_trigger: Annotated[
        bool | None, Query(description="Only playbooks that do (true) or do not auto-trigger.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PlaybookStatusReply:
    """Every loaded playbook by name (risk, tier, auto-trigger, priority, triggers, file), and
    every file that failed to load with each fault (file:line and the fix).
    """
    found = [
        pb
        for _, pb in sorted(engine.playbooks.items())
        if (risk_level is None or pb.spec.metadata.risk_level == risk_level)
        and (auto_trigger is None or pb.spec.metadata.auto_trigger == auto_trigger)
    ]
    off = await call_engine(engine.store.disabled_playbooks)
    return PlaybookStatusReply(
        total=len(found),
        limit=limit,
        offset=offset,
        items=[_info(pb, off.get(pb.name)) for pb in found[offset : offset + limit]],
        rejected=_rejected(engine.playbook_errors),
    )


@router.get(
    "/metrics",
    response_model=PlaybooksMetricsReply,
    responses=_ERRORS,
    summary="Run statistics of every playbook",
)
async def metrics(
    engine: EngineDep, limit: Limit = 50, offset: Offset = 0
) -> PlaybooksMetricsReply:
    """Per playbook, by name: runs by status, success rate, mean duration and last run. Every
    loaded playbook is listed (with zeros when it never ran), and so is any playbook that is no
    longer loaded but has runs (``loaded: false``).
    """
    every = await call_engine(lambda: engine.store.list_runs(limit=ALL_ROWS))
    by_name: dict[str, list[Run]] = {name: [] for name in engine.playbooks}
    for run in every:
        by_name.setdefault(run.playbook, []).append(run)
    names = sorted(by_name)
    return PlaybooksMetricsReply(
        total=len(names),
        limit=limit,
        offset=offset,
        items=[
            stats_of(n, by_name[n], loaded=n in engine.playbooks)
            for n in names[offset : offset + limit]
        ],
    )


@router.get(
    "/{name}/stats",
    response_model=PlaybookStats,
    responses={
        **_ERRORS,
        404: {"model": ErrorReply, "description": "No playbook has this name."},
    },
    summary="Run statistics of one playbook",
)
async def stats(
    engine: EngineDep, name: Annotated[str, Path(min_length=1, max_length=200)]
) -> PlaybookStats:
    """Runs by status, success rate (succeeded over runs that ran to an outcome), mean
    duration and the last run of a loaded playbook.
    """

    def read() -> list[Run]:
        engine.playbook(name)  # an unknown name is a 404 with a did-you-mean hint
        return engine.store.list_runs(playbook=name, limit=ALL_ROWS)

    return stats_of(name, await call_engine(read), loaded=True)


_SWITCH_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    404: {"model": ErrorReply, "description": "No playbook has this name."},
    422: {"model": ErrorReply, "description": "The body is invalid (disabling needs a reason)."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


@router.post(
    "/{name}/disable",
    response_model=SwitchReply,
    responses=_SWITCH_ERRORS,
    summary="Turn a playbook off",
    openapi_extra=openapi_body(SwitchBody, description="Why (required), and who."),
)
async def disable(
    engine: EngineDep,
    principal: PrincipalDep,
    name: Annotated[str, Path(max_length=200)],
    body: JsonBody,
) -> SwitchReply:
    """The playbook starts nothing, automatic or manual, on every node until it is enabled;
    the governor's ``disabled`` guard says who turned it off and why."""
    request = parse_body(SwitchBody, body)
    who = acting_as(principal, request.by, "by")
    reason = request.reason.strip()
    if not reason:
        raise ApiError(422, "body.reason: required to disable a playbook", hint="say why")

    def switch() -> tuple[bool, dict[str, Any] | None]:
        engine.playbook(name)
        changed = engine.store.disable_playbook(name, by=who, reason=reason)
        return changed, engine.store.disabled_playbook(name)

    changed, state = await call_engine(switch)
    return SwitchReply(
        name=name,
        disabled=True,
        changed=changed,
        state=None if state is None else SwitchState.model_validate(state),
    )


@router.post(
    "/{name}/enable",
    response_model=SwitchReply,
    responses=_SWITCH_ERRORS,
    summary="Turn a disabled playbook on again",
    openapi_extra=openapi_body(SwitchBody, description="Why, and who."),
)
async def enable(
    engine: EngineDep,
    principal: PrincipalDep,
    name: Annotated[str, Path(max_length=200)],
    body: JsonBody,
) -> SwitchReply:
    """The playbook acts again as its triggers and the governor say."""
    request = parse_body(SwitchBody, body)
    who = acting_as(principal, request.by, "by")

    def switch() -> bool:
        engine.playbook(name)
        return engine.store.enable_playbook(name, by=who, reason=request.reason.strip())

    changed = await call_engine(switch)
    return SwitchReply(name=name, disabled=False, changed=changed)
