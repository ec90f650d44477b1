"""``POST /api/playbooks/{name}/execute``: ask for a run; plus what every run route shares.

The route only creates the run, as the governor rules (queued, awaiting approval, blocked by
the change window, or refused); the daemon's pipeline picks up queued runs. It never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from grace.api._auth import PrincipalDep, acting_as
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError
from grace.api.schemas import ErrorReply, openapi_body
from grace.errors import RunError
from grace.runs import Run

__all__ = (
    "MAX_KEY",
    "ExecuteBody",
    "Identity",
    "RunReply",
    "call_engine",
    "parse_body",
    "router",
    "run_reply",
)

MAX_KEY = 200
"""Longest ``Idempotency-Key`` kept (the store's column width)."""

Identity = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""Who is acting (recorded in the audit log): non-empty, at most 200 characters."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

router = APIRouter(prefix="/api/playbooks", tags=["runs"])


class RunReply(BaseModel):
    """A run as JSON (the same fields as ``grace runs --json``, plus its idempotency key)."""

    id: str
    playbook: str
    playbook_version: str
    status: str
    """``queued``, ``awaiting_approval``, ``blocked_change_window``, ``proposed``, …"""
    trigger: str
    service: str
    requested_by: str
    dry_run: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    last_completed_step: str | None
    error: str | None
    parent_run_id: str | None
    vars: dict[str, Any]
    event_id: str | None
    risk_level: str
    suppressed: int
    approvals_needed: int
    """Distinct approvals still missing before the run is queued."""
    expires_at: datetime | None
    """When a pending run expires if nobody decides."""
    dedupe_key: str | None
    idempotency_key: str | None


def run_reply(run: Run) -> RunReply:
    """The reply body for ``run``."""
    return RunReply(
        id=run.id,
        playbook=run.playbook,
        playbook_version=run.playbook_version,
        status=run.status.value,
        trigger=run.trigger,
        service=run.service,
        requested_by=run.requested_by,
        dry_run=run.dry_run,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        last_completed_step=run.last_completed_step,
        error=run.error,
        parent_run_id=run.parent_run_id,
        vars=run.vars,
        event_id=run.event.get("id"),
        risk_level=run.risk_level,
        suppressed=run.suppressed,
        approvals_needed=run.approvals_needed,
        expires_at=run.expires_at,
        dedupe_key=run.dedupe_key,
        idempotency_key=run.idempotency_key,
    )


def parse_body(model: type[M], body: Any) -> M:
    """Validate a parsed JSON body against ``model``.

    Raises:
        ApiError: 422 naming the first faulty field (``body.approver: Field required``).
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        texts = []
        for err in exc.errors():
            where = ".".join(["body", *(str(p) for p in err["loc"])])
            texts.append(f"{where}: {err['msg']}")
        raise ApiError(
            422, texts[0], hint="see /docs for the expected shape", details=texts[1:]
        ) from None


async def call_engine(work: Callable[[], T], *, lookup: bool = False) -> T:
    """Run a blocking engine or store call in a worker thread; its refusals become replies.

    ``UnknownPlaybook`` is a 404; ``RunRefused`` (the governor said no) and every other
    ``RunError`` (not pending, four eyes, duplicate approver…) a 409. With ``lookup``, a
    ``RunError`` means the run id matched no single run: a 404.
    """
    try:
        return await anyio.to_thread.run_sync(work)
    except RunError as exc:
        from grace.engine import RunRefused

        if isinstance(exc, RunRefused):
            decision = exc.decision
            details = [f"{name}: {said}" for name, said in decision.trace]
            raise ApiError(409, str(exc), hint=exc.hint, details=details) from None
        raise ApiError(404 if lookup else 409, str(exc), hint=exc.hint) from None
    except LookupError as exc:
        from grace.engine import UnknownPlaybook

        if isinstance(exc, UnknownPlaybook):
            raise ApiError(404, str(exc), hint=exc.hint) from None
        raise


class ExecuteBody(BaseModel):
    """``POST /api/playbooks/{name}/execute``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    requested_by: Identity | None = None
    """Who asks: the token's holder (may be left out; with auth off, required)."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Values visible to the playbook's templates as ``vars.<name>``."""


_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    404: {"model": ErrorReply, "description": "No playbook has this name."},
    409: {"model": ErrorReply, "description": "The governor refused the run (with why)."},
    422: {"model": ErrorReply, "description": "The body or the key is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


@router.post(
    "/{name}/execute",
    status_code=status.HTTP_201_CREATED,
    response_model=RunReply,
    responses={
        200: {"model": RunReply, "description": "The key was seen: the same run."},
        **_ERRORS,
    },
    summary="Request a run of a playbook",
    openapi_extra=openapi_body(ExecuteBody, description="Who asks, and the run's vars."),
)
async def execute(
    engine: EngineDep,
    principal: PrincipalDep,
    name: Annotated[str, Path(max_length=200)],
    body: JsonBody,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY)
    ] = None,
) -> RunReply:
    """Create a run of ``name`` as the governor rules; the pipeline runs it if it is queued.

    The reply is the run: ``queued``, or waiting (``awaiting_approval``,
    ``blocked_change_window``, ``proposed``). A refusal (emergency stop, policy) is a 409 that
    says why. The same ``Idempotency-Key`` answers 200 with the run it created the first time.
    """
    request = parse_body(ExecuteBody, body)
    requester = acting_as(principal, request.requested_by, "requested_by")
    key = idempotency_key

    def create() -> tuple[Run, bool]:
        engine.playbook(name)  # an unknown name is a 404, even for a known key
        if key is not None:
            earlier = engine.store.run_for_idempotency_key(key)
            if earlier is not None:
                return earlier, False
        run = engine.new_run(
            name,
            vars=request.vars,
            trigger="api",
            requested_by=requester,
            idempotency_key=key,
        )
        return run, True

    run, created = await call_engine(create)
    if not created and (run.playbook != name or run.vars != request.vars):
        msg = (
            f"Idempotency-Key {key!r} was already used for another request "
            f"(run {run.id} of {run.playbook})"
        )
        raise ApiError(422, msg, hint="use a new key for each distinct request")
    if not created:
        response.status_code = status.HTTP_200_OK
    return run_reply(run)
