"""Silences over HTTP: the same operations as ``grace silence add|list|expire``.

A silence mutes diagnoses whose labels match every matcher (``service=db``, ``alertname=~Disk.*``)
between ``starts_at`` and ``ends_at``. There is no authentication yet: who silences, or ends a
silence, is taken from the request and recorded as such in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from grace.api._auth import PrincipalDep, acting_as
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError, parse_json
from grace.api.routes.agent_runs import Limit, Offset
from grace.api.routes.runs import Identity, call_engine, parse_body
from grace.api.schemas import ErrorReply, openapi_body

__all__ = ("ExpireBody", "SilenceBody", "SilencePage", "SilenceReply", "router")

router = APIRouter(prefix="/api/silences", tags=["silences"])

SilenceState = Literal["pending", "active", "expired"]

DEFAULT_DURATION = "1h"
"""How long a silence lasts when neither ``duration`` nor ``ends_at`` is given (as the CLI)."""


class SilenceBody(BaseModel):
    """``POST /api/silences``."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str] = Field(min_length=1)
    """``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex``; all must match."""
    duration: str | float | None = None
    """How long from ``starts_at``: ``30m``, ``2h``, ``1d`` or seconds. Not with ``ends_at``."""
    starts_at: datetime | None = None
    """When it starts (with a UTC offset); now when absent."""
    ends_at: datetime | None = None
    """When it ends (with a UTC offset). Not with ``duration``."""
    author: Identity | None = None
    """Who silences: the token's holder (may be left out; with auth off, required)."""
    comment: str
    """Why (required)."""


class ExpireBody(BaseModel):
    """``DELETE /api/silences/{id}`` (``by`` may be a query parameter instead)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    by: Identity | None = None


class SilenceReply(BaseModel):
    """A silence and whether it mutes anything now."""

    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime
    state: SilenceState
    """``pending`` (starts later), ``active`` or ``expired``."""


class SilencePage(BaseModel):
    """One page of silences, newest first."""

    total: int
    limit: int
    offset: int
    items: list[SilenceReply]


def _reply(silence: dict[str, Any], now: datetime) -> SilenceReply:
    """The reply for a silence in ``Silence.to_dict()`` form, its times in UTC."""
    starts, ends, created = (
        datetime.fromisoformat(silence[k]).astimezone(UTC)
        for k in ("starts_at", "ends_at", "created_at")
    )
    state: SilenceState = "pending" if starts > now else "active" if ends > now else "expired"
    return SilenceReply(
        id=silence["id"],
        matchers=silence["matchers"],
        starts_at=starts,
        ends_at=ends,
        author=silence["author"],
        comment=silence["comment"],
        created_at=created,
        state=state,
    )


_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    422: {"model": ErrorReply, "description": "A field or query parameter is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


@router.get(
    "",
    response_model=SilencePage,
    responses={422: _ERRORS[422], 503: _ERRORS[503]},
    summary="Silences, newest first",
)
async def list_silences(
    engine: EngineDep,
    state: Annotated[
        Literal["current", "pending", "active", "expired", "all"],
        Query(description="``current`` (the default): pending or active; or one state; or all."),
    ] = "current",
    limit: Limit = 50,
    offset: Offset = 0,
) -> SilencePage:
    """Silences newest first: by default those that mute now or will (``grace silence list``
    shows the active ones, ``--all`` every one)."""
    rows = await call_engine(engine.store.silences)
    now = engine.clock.now()
    every = [_reply(s, now) for s in rows]
    found = [
        s
        for s in every
        if state == "all" or s.state == state or (state == "current" and s.state != "expired")
    ]
    return SilencePage(
        total=len(found), limit=limit, offset=offset, items=found[offset : offset + limit]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SilenceReply,
    responses=_ERRORS,
    summary="Silence matching diagnoses for a while",
    openapi_extra=openapi_body(SilenceBody, description="Matchers, how long, who and why."),
)
async def add(engine: EngineDep, principal: PrincipalDep, body: JsonBody) -> SilenceReply:
    """Create a silence from ``starts_at`` (default now) for ``duration`` (default 1h), or
    until ``ends_at``. Matchers, times, author and comment are checked (422 says what is
    wrong)."""
    from grace.durations import parse_duration
    from grace.governance import new_silence

    request = parse_body(SilenceBody, body)
    author = acting_as(principal, request.author, "author")
    if request.duration is not None and request.ends_at is not None:
        msg = "body: give duration or ends_at, not both"
        raise ApiError(422, msg, hint='e.g. {"duration": "2h"} or {"ends_at": "…+00:00"}')
    now = engine.clock.now()
    try:
        starts = request.starts_at or now
        if request.ends_at is not None:
            ends = request.ends_at
        else:
            duration = DEFAULT_DURATION if request.duration is None else request.duration
            ends = starts + timedelta(seconds=parse_duration(duration, where="body.duration"))
        silence = new_silence(
            id=engine.ids.new("sil"),
            matchers=request.matchers,
            starts_at=starts,
            ends_at=ends,
            author=author,
            comment=request.comment,
            created_at=now,
        )
    except ValueError as exc:
        raise ApiError(422, str(exc), hint="see docs/api.md#silences") from None
    except OverflowError:
        msg = "body: the silence would end after the year 9999"
        raise ApiError(422, msg, hint="give a shorter duration or an earlier start") from None
    record = silence.to_dict()
    await call_engine(partial(engine.store.add_silence, record, actor=silence.author))
    return _reply(record, now)


@router.delete(
    "/{silence_id}",
    response_model=SilenceReply,
    responses={
        **_ERRORS,
        404: {"model": ErrorReply, "description": "No silence with this id is in force."},
    },
    summary="End a silence now",
    openapi_extra={
        "requestBody": {
            **openapi_body(ExpireBody)["requestBody"],
            "required": False,
            "description": "Who ends it; or give ``by`` as a query parameter.",
        }
    },
)
async def expire(
    engine: EngineDep,
    principal: PrincipalDep,
    request: Request,
    silence_id: Annotated[str, Path(min_length=1, max_length=64)],
    by: Annotated[str | None, Query(max_length=200, description="Who ends it.")] = None,
) -> SilenceReply:
    """End a silence now (``ends_at`` becomes now); the reply is the silence, ``expired``."""
    raw = await request.body()
    sent = parse_body(ExpireBody, parse_json(raw)).by if raw.strip() else None
    if sent is not None and by is not None and sent != by.strip():
        msg = f"body.by {sent!r} and query by {by!r} disagree"
        raise ApiError(422, msg, hint="say who you are once, in the body or in the query")
    who = acting_as(principal, sent or (by or "").strip() or None, "by")

    def end() -> dict[str, Any] | None:
        if not engine.store.expire_silence(silence_id, by=who):
            return None
        return next(s for s in engine.store.silences() if s["id"] == silence_id)

    ended = await call_engine(end)
    if ended is None:
        msg = f"no silence {silence_id!r} is in force"
        raise ApiError(404, msg, hint="list them with GET /api/silences?state=all")
    return _reply(ended, engine.clock.now())
