"""``POST /api/events``: events in, one at a time or in batches, idempotent per key."""

from __future__ import annotations

from fastapi import APIRouter, status

from grace.api._deps import IngestDep, JsonBody
from grace.api._submit import parse_events, submit_all
from grace.api.schemas import ErrorReply, EventsBody, EventsReply, openapi_body

__all__ = ("router",)

router = APIRouter(prefix="/api/events", tags=["events"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    413: {"model": ErrorReply, "description": "The body is larger than the limit (1 MiB)."},
    422: {"model": ErrorReply, "description": "An event is invalid; the error names the field."},
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsReply,
    responses=_ERRORS,
    summary="Submit events",
    openapi_extra=openapi_body(
        EventsBody,
        description=(
            "An event, the SDK's envelope {event, event_key}, or a list of either (at most "
            "1000). Missing id and time get defaults; source defaults to 'api'."
        ),
    ),
)
async def post_events(body: JsonBody, ingest: IngestDep) -> EventsReply:
    """Validate every event, then submit each; a resend with the same ``event_key`` is a duplicate.

    Nothing is submitted when any event of a batch is invalid.
    """
    return await submit_all(ingest, parse_events(body))
