"""Approvals and the emergency stop over HTTP: the same operations as ``grace approve``,
``grace reject``, ``grace approvals``, ``grace stop --emergency`` and ``grace resume``.

There is no authentication yet: who acts is taken from the body and recorded as such in the
audit log (docs/api-governance.md).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints

from grace.api._auth import PrincipalDep, acting_as, needs
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError, parse_json
from grace.api.routes.runs import Identity, RunReply, call_engine, parse_body, run_reply
from grace.api.schemas import ErrorReply, openapi_body
from grace.runs import Run
from grace.tokens import Role

if TYPE_CHECKING:
    from grace.store import Approval

__all__ = (
    "ApprovalReply",
    "ApproveBody",
    "LiftBody",
    "PendingReply",
    "RejectBody",
    "RunVerdicts",
    "StopBody",
    "StopLifted",
    "StopReply",
    "StopSet",
    "router",
)

router = APIRouter(tags=["governance"])

RunId = Annotated[str, Path(min_length=1, max_length=64, description="A run id or its prefix.")]
"""A run's id, or a unique prefix of at least 6 characters (as ``grace approve`` takes)."""

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ApproveBody(_Body):
    """``POST /api/approvals/{run_id}/approve``."""

    approver: Identity | None = None
    """Who approves: the token's holder (may be left out; with auth off, required). Never the
    requester (four eyes), once per run (a quorum is distinct approvers)."""
    reason: str = ""
    override_window: bool = False
    """Let a run blocked by the change window go outside it."""


class RejectBody(_Body):
    """``POST /api/approvals/{run_id}/reject``."""

    approver: Identity | None = None
    """Who rejects: the token's holder (may be left out; with auth off, required)."""
    reason: Reason
    """Why (required: it is what the requester reads)."""


class StopBody(_Body):
    """``POST /api/emergency-stop``."""

    by: Identity | None = None
    """Who stops: the token's holder (may be left out; with auth off, required)."""
    reason: str = ""


class LiftBody(_Body):
    """``DELETE /api/emergency-stop`` (the same fields may be query parameters)."""

    by: Identity | None = None
    reason: str = ""


class ApprovalReply(BaseModel):
    """One verdict recorded on a run."""

    approver: str
    verdict: str
    """``approved`` or ``rejected``."""
    reason: str
    override_window: bool
    created_at: datetime


class RunVerdicts(BaseModel):
    """A run and every verdict given on it, oldest first."""

    run: RunReply
    approvals: list[ApprovalReply]


class PendingReply(BaseModel):
    """One page of the runs waiting on a human, oldest first."""

    total: int
    """Pending runs in all (not only on this page)."""
    limit: int
    offset: int
    runs: list[RunReply]


class StopReply(BaseModel):
    """Whether the emergency stop is in force, and who set it, when and why."""

    active: bool
    by: str | None = None
    reason: str | None = None
    at: datetime | None = None


class StopSet(StopReply):
    """The stop just set, and the queued runs it aborted."""

    aborted_queued: list[str]


class StopLifted(BaseModel):
    """The answer to lifting the stop."""

    active: bool = False
    lifted: bool
    """False when no stop was in force."""


_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    422: {"model": ErrorReply, "description": "A field is missing or invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}
_RUN_ERRORS: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    404: {"model": ErrorReply, "description": "No run (or no single run) has this id."},
    409: {
        "model": ErrorReply,
        "description": "Not allowed now: not pending, expired, four eyes, already decided…",
    },
}


def _verdict(a: Approval) -> ApprovalReply:
    return ApprovalReply(
        approver=a.approver,
        verdict=a.verdict,
        reason=a.reason,
        override_window=a.override_window,
        created_at=a.created_at,
    )


def _stop(value: dict[str, Any] | None) -> StopReply:
    if value is None:
        return StopReply(active=False)
    at = value.get("at")
    return StopReply(
        active=True,
        by=value.get("by"),
        reason=value.get("reason"),
        at=datetime.fromisoformat(at) if isinstance(at, str) else None,
    )


# -- approvals ------------------------------------------------------------------------------


@router.get(
    "/api/approvals",
    response_model=PendingReply,
    responses={422: _ERRORS[422], 503: _ERRORS[503]},
    summary="Runs waiting on a human",
)
async def list_pending(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> PendingReply:
    """Runs proposed, awaiting approval or blocked by the change window, oldest first.

    Runs past their expiry are marked ``expired`` first, so they are not listed.
    """

    def pending() -> list[Run]:
        engine.store.expire_pending()
        return engine.store.pending_runs()

    runs = await call_engine(pending)
    page = runs[offset : offset + limit]
    return PendingReply(
        total=len(runs), limit=limit, offset=offset, runs=[run_reply(r) for r in page]
    )


@router.get(
    "/api/approvals/{run_id}",
    response_model=RunVerdicts,
    responses=_RUN_ERRORS,
    summary="A run and its verdicts",
)
async def show(engine: EngineDep, run_id: RunId) -> RunVerdicts:
    """The run (by id or unique prefix) and every approval or rejection recorded on it."""
    await call_engine(engine.store.expire_pending)
    run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)
    verdicts = await call_engine(partial(engine.store.approvals_of, run.id))
    return RunVerdicts(run=run_reply(run), approvals=[_verdict(a) for a in verdicts])


@router.post(
    "/api/approvals/{run_id}/approve",
    response_model=RunReply,
    responses=_RUN_ERRORS,
    summary="Approve a pending run",
    openapi_extra={
        **openapi_body(ApproveBody, description="Who approves, and why."),
        **needs(Role.APPROVER),
    },
)
async def approve(
    engine: EngineDep, principal: PrincipalDep, run_id: RunId, body: JsonBody
) -> RunReply:
    """Record an approval; the run is ``queued`` once no approval is missing.

    Refused (409) when the approver requested the run (four eyes), already gave a verdict, the
    run is not pending or has expired, or it is outside the change window without
    ``override_window``.
    """
    request = parse_body(ApproveBody, body)
    approver = acting_as(principal, request.approver, "approver")
    run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)
    done = await call_engine(
        partial(
            engine.store.approve_run,
            run.id,
            approver=approver,
            reason=request.reason,
            override_window=request.override_window,
        )
    )
    return run_reply(done)


@router.post(
    "/api/approvals/{run_id}/reject",
    response_model=RunReply,
    responses=_RUN_ERRORS,
    summary="Reject a pending run",
    openapi_extra={
        **openapi_body(RejectBody, description="Who rejects, and why (required)."),
        **needs(Role.APPROVER),
    },
)
async def reject(
    engine: EngineDep, principal: PrincipalDep, run_id: RunId, body: JsonBody
) -> RunReply:
    """The run ends ``rejected``; who and why are recorded with it and in the audit log."""
    request = parse_body(RejectBody, body)
    approver = acting_as(principal, request.approver, "approver")
    run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)
    done = await call_engine(
        partial(engine.store.reject_run, run.id, by=approver, reason=request.reason)
    )
    return run_reply(done)


# -- emergency stop -------------------------------------------------------------------------


@router.get(
    "/api/emergency-stop",
    response_model=StopReply,
    responses={503: _ERRORS[503]},
    summary="Is the emergency stop in force?",
)
async def stop_state(engine: EngineDep) -> StopReply:
    """``{"active": false}``, or ``{"active": true, "by", "reason", "at"}``."""
    return _stop(await call_engine(engine.store.emergency_stop))


@router.post(
    "/api/emergency-stop",
    response_model=StopSet,
    responses=_ERRORS,
    summary="Halt every run and refuse new ones",
    openapi_extra=openapi_body(StopBody, description="Who stops everything, and why."),
)
async def stop(engine: EngineDep, principal: PrincipalDep, body: JsonBody) -> StopSet:
    """Queued runs are aborted now; running runs cancel their step, run recovery and end
    ``aborted`` within a second; new runs are refused until the stop is lifted.
    """
    request = parse_body(StopBody, body)
    who = acting_as(principal, request.by, "by")
    reason = request.reason.strip() or "no reason given"

    def halt() -> tuple[list[str], dict[str, Any] | None]:
        aborted = engine.store.set_emergency_stop(by=who, reason=reason)
        return aborted, engine.store.emergency_stop()

    aborted, value = await call_engine(halt)
    return StopSet(**_stop(value).model_dump(), aborted_queued=aborted)


@router.delete(
    "/api/emergency-stop",
    response_model=StopLifted,
    responses=_ERRORS,
    summary="Lift the emergency stop",
    openapi_extra={
        "requestBody": {
            **openapi_body(LiftBody)["requestBody"],
            "required": False,
            "description": "Who lifts it, and why; or give them as query parameters.",
        },
        **needs(Role.ADMIN),
    },
)
async def lift(
    engine: EngineDep,
    principal: PrincipalDep,
    request: Request,
    by: Annotated[str | None, Query(max_length=200, description="Who lifts it.")] = None,
    reason: Annotated[str, Query(description="Why (recorded).")] = "",
) -> StopLifted:
    """Lift the stop (admin role); ``lifted`` is false when none was in force. ``by`` is the
    token's holder (required with auth off)."""
    raw = await request.body()
    sent = parse_body(LiftBody, parse_json(raw)) if raw.strip() else LiftBody()
    if sent.by is not None and by is not None and sent.by != by.strip():
        msg = f"body.by {sent.by!r} and query by {by!r} disagree"
        raise ApiError(422, msg, hint="say who you are once, in the body or in the query")
    who = acting_as(principal, sent.by or (by or "").strip() or None, "by")
    why = sent.reason or reason
    lifted = await call_engine(partial(engine.store.clear_emergency_stop, by=who, reason=why))
    return StopLifted(lifted=lifted)
