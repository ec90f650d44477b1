"""The audit log over HTTP: entries (filtered, paged, or tailed with ``after_seq``) and a full
verification, the same as ``grace audit verify --json``.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from grace.api._deps import EngineDep
from grace.api.routes.agent_runs import ALL_ROWS, Limit, Offset
from grace.api.routes.runs import call_engine
from grace.api.schemas import ErrorReply

__all__ = ("AuditEntryReply", "AuditPage", "VerifyReply", "router")

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEntryReply(BaseModel):
    """One chained entry, as ``grace audit export`` writes it."""

    seq: int
    time: str
    """ISO-8601 UTC, exactly as hashed."""
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """One page of entries."""

    total: int
    """Entries matching the filters (and ``after_seq``) in all."""
    limit: int
    offset: int
    items: list[AuditEntryReply]


class VerifyReply(BaseModel):
    """What ``grace audit verify --json`` prints."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problem: str | None
    checkpoints_checked: int
    bad_checkpoints: list[int]
    duration_s: float
    head_seq: int
    signatures_checked: int
    checkpoint_problems: list[str]


_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorReply, "description": "A query parameter is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


@router.get("", response_model=AuditPage, responses=_ERRORS, summary="Audit entries")
async def entries(
    engine: EngineDep,
    action: Annotated[
        str | None, Query(max_length=100, description="Only this action (``run.created``).")
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=200, description="Only this subject (a run id…).")
    ] = None,
    after_seq: Annotated[
        int,
        Query(ge=0, le=2**63 - 1, description="Only entries after this seq (to follow the log)."),
    ] = 0,
    order: Annotated[
        Literal["asc", "desc"], Query(description="``asc``: chain order; ``desc``: newest first.")
    ] = "asc",
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    """Entries in chain order (or newest first), filtered by action and subject; a client
    following the log passes the last seq it saw as ``after_seq``.
    """
    every = await call_engine(
        partial(engine.store.audit_entries, subject=subject, action=action, limit=ALL_ROWS)
    )
    found = [e for e in every if e.seq > after_seq]
    if order == "desc":
        found.reverse()
    return AuditPage(
        total=len(found),
        limit=limit,
        offset=offset,
        items=[AuditEntryReply(**e.to_dict()) for e in found[offset : offset + limit]],
    )


@router.get(
    "/verify",
    response_model=VerifyReply,
    responses={503: _ERRORS[503]},
    summary="Verify the whole audit chain",
)
async def verify(engine: EngineDep) -> VerifyReply:
    """Re-walk every hash link and check every signed checkpoint (under the installation's
    public key when it is there). A chain that fails is ``ok: false`` naming the first bad
    seq, still a 200: the request itself succeeded.
    """
    from grace.audit import PUBLIC_KEY_FILE, load_public_keys
    from grace.audit import verify as verify_chain

    def check() -> dict[str, Any]:
        public = engine.settings.data_dir / PUBLIC_KEY_FILE
        keys = load_public_keys(public) if public.exists() else None
        return asdict(verify_chain(engine.store.engine, public_keys=keys))

    return VerifyReply(**await call_engine(check))
