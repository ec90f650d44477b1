"""``GET /api/events``: the events Grace received, newest first, paged and filtered.

(``POST /api/events``, the intake, lives in ``routes/events.py`` with its lean route class.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from grace.api._deps import EngineDep
from grace.api.routes.agent_runs import Limit, Offset
from grace.api.routes.runs import call_engine
from grace.api.schemas import ErrorReply
from grace.events import EventKind

__all__ = ("EventPage", "RecordedEventReply", "router")

router = APIRouter(prefix="/api/events", tags=["events"])


class RecordedEventReply(BaseModel):
    """One event as the store holds it."""

    id: str
    time: datetime
    """When it happened (the source's clock)."""
    received_at: datetime
    """When Grace recorded it."""
    source: str
    kind: str
    service: str
    severity: str
    message: str
    attributes: dict[str, Any]
    fingerprint: str
    """What makes two events the same failure (numbers and hex ids masked)."""


class EventPage(BaseModel):
    """One page of events, newest first."""

    total: int
    """Events matching the filters in all."""
    limit: int
    offset: int
    items: list[RecordedEventReply]


@router.get(
    "",
    response_model=EventPage,
    responses={
        422: {"model": ErrorReply, "description": "A query parameter is invalid."},
        503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
    },
    summary="Events received, newest first",
)
async def list_events(
    engine: EngineDep,
    service: Annotated[str | None, Query(max_length=200, description="Only this service.")] = None,
    kind: Annotated[EventKind | None, Query(description="Only this kind.")] = None,
    since: Annotated[
        datetime | None, Query(description="Only events received at or after (ISO-8601).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    """The stream of events as received (what the dashboard's events page shows)."""

    def read() -> tuple[int, list[Any]]:
        store = engine.store
        total = store.count_events(service=service, kind=kind, since=since)
        rows = store.recent_events(
            limit=limit, offset=offset, service=service, kind=kind, since=since
        )
        return total, rows

    total, rows = await call_engine(read)
    return EventPage(
        total=total,
        limit=limit,
        offset=offset,
        items=[
            RecordedEventReply(
                **r.event.to_dict() | {"time": r.event.time},
                received_at=r.received_at,
                fingerprint=r.fingerprint,
            )
            for r in rows
        ],
    )
