"""Tickets (work orders filed by playbooks and open circuits): the same list as
``grace tickets --json``, paged and filtered.

``POST /api/tickets/{id}/close`` closes one, with who and why in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from grace.api._auth import PrincipalDep, acting_as
from grace.api._deps import EngineDep, JsonBody
from grace.api._errors import ApiError
from grace.api.routes.agent_runs import ALL_ROWS, Limit, Offset
from grace.api.routes.runs import Identity, call_engine, parse_body
from grace.api.schemas import ErrorReply, openapi_body
from grace.errors import RunError
from grace.runs import Ticket

__all__ = ("TicketPage", "TicketReply", "router", "ticket_reply")

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


class TicketReply(BaseModel):
    """A work order: what a human must do, with the context to do it."""

    id: str
    created_at: datetime
    title: str
    body: str
    severity: str
    status: str
    """``open`` or ``closed``."""
    service: str
    run_id: str | None
    """The run that filed it, if any."""
    context: dict[str, Any]
    closed_at: datetime | None


class TicketPage(BaseModel):
    """One page of tickets, newest first."""

    total: int
    """Tickets matching the filters in all."""
    limit: int
    offset: int
    items: list[TicketReply]


def ticket_reply(ticket: Ticket) -> TicketReply:
    """The reply body for ``ticket``."""
    return TicketReply(
        id=ticket.id,
        created_at=ticket.created_at,
        title=ticket.title,
        body=ticket.body,
        severity=ticket.severity,
        status=ticket.status,
        service=ticket.service,
        run_id=ticket.run_id,
        context=ticket.context,
        closed_at=ticket.closed_at,
    )


@router.get(
    "",
    response_model=TicketPage,
    responses={
        422: {"model": ErrorReply, "description": "A query parameter is invalid."},
        503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
    },
    summary="Tickets, newest first",
)
async def list_tickets(
    engine: EngineDep,
    status: Annotated[
        Literal["open", "closed"] | None, Query(description="Only tickets in this status.")
    ] = None,
    service: Annotated[
        str | None, Query(max_length=200, description="Only tickets about this service.")
    ] = None,
    run_id: Annotated[
        str | None, Query(max_length=64, description="Only tickets filed by this run.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TicketPage:
    """Tickets newest first, open and closed unless ``status`` says which."""
    every = await call_engine(partial(engine.store.list_tickets, status=status, limit=ALL_ROWS))
    found = [
        t
        for t in every
        if (service is None or t.service == service) and (run_id is None or t.run_id == run_id)
    ]
    return TicketPage(
        total=len(found),
        limit=limit,
        offset=offset,
        items=[ticket_reply(t) for t in found[offset : offset + limit]],
    )


class CloseBody(BaseModel):
    """``POST /api/tickets/{id}/close``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    by: Identity | None = None
    """Who closes it: the token's holder (may be left out; with auth off, required)."""
    reason: str = ""
    """What was done (recorded)."""


@router.post(
    "/{ticket_id}/close",
    response_model=TicketReply,
    responses={
        400: {"model": ErrorReply, "description": "The body is not JSON."},
        404: {"model": ErrorReply, "description": "No ticket has this id."},
        409: {"model": ErrorReply, "description": "The ticket is already closed."},
        422: {"model": ErrorReply, "description": "The body is invalid."},
        503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
    },
    summary="Close a ticket",
    openapi_extra=openapi_body(CloseBody, description="Who closes it, and what was done."),
)
async def close_ticket(
    engine: EngineDep,
    principal: PrincipalDep,
    ticket_id: Annotated[str, Path(max_length=64)],
    body: JsonBody,
) -> TicketReply:
    """The ticket is ``closed``; ``ticket.closed`` in the audit log says who and why."""
    request = parse_body(CloseBody, body)
    who = acting_as(principal, request.by, "by")
    try:
        closed = await anyio.to_thread.run_sync(
            partial(engine.store.close_ticket, ticket_id, by=who, reason=request.reason)
        )
    except RunError as exc:
        status = 404 if str(exc).startswith("no ticket") else 409
        raise ApiError(status, str(exc), hint="list them with GET /api/tickets") from None
    return ticket_reply(closed)
