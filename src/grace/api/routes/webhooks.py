"""``POST /api/webhooks/alertmanager`` and ``POST /api/webhooks/{name}`` (generic JSON).

Alertmanager: a firing alert opens its episode and becomes an event (keyed so that the
re-sends Alertmanager makes every ``group_interval`` are duplicates); a resolved alert closes
its episode and becomes nothing, so it never triggers a remediation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from grace.api import WEBHOOK_NAME_PATTERN
from grace.api._deps import IngestDep, JsonBody, StateDep
from grace.api._errors import ApiError
from grace.api._submit import Submission, check_bounds, submit_all
from grace.api.schemas import AlertmanagerReply, ErrorReply, EventsReply, openapi_body
from grace.sources.builtin.webhook import (
    AlertmanagerPayload,
    alertmanager_signals,
    map_generic,
    webhook_event_key,
)

__all__ = ("NAME_PATTERN", "router")

NAME_PATTERN = WEBHOOK_NAME_PATTERN
"""A generic webhook's name, as declared by a ``webhook`` source."""

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    413: {"model": ErrorReply, "description": "The body is larger than the limit (1 MiB)."},
    422: {"model": ErrorReply, "description": "The payload is invalid; the error names the field."},
}


@router.post(
    "/alertmanager",
    response_model=AlertmanagerReply,
    responses=_ERRORS,
    summary="Prometheus Alertmanager webhook (payload version 4)",
    openapi_extra=openapi_body(
        AlertmanagerPayload,
        description="What Alertmanager's webhook_config receiver POSTs (firing or resolved).",
    ),
)
async def post_alertmanager(body: JsonBody, ingest: IngestDep) -> AlertmanagerReply:
    """Open and close episodes; turn each firing alert into an event, resolved ones into none."""
    signals = alertmanager_signals(body)
    for index, signal in enumerate(signals):
        if signal.event is not None:
            check_bounds(signal.event, signal.event_key, f"alerts[{index}]")
    firing = resolved = duplicates = 0
    for signal in signals:
        if signal.event is None:
            await ingest.resolve_episode(signal.episode_key)
            resolved += 1
            continue
        firing += 1
        await ingest.open_episode(signal.episode_key, service=signal.service)
        done = await ingest.submit(signal.event, event_key=signal.event_key)
        if not done.accepted and done.reason in ("", "duplicate"):
            duplicates += 1
    return AlertmanagerReply(firing=firing, resolved=resolved, duplicates=duplicates)


@router.post(
    "/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsReply,
    responses={**_ERRORS, 404: {"model": ErrorReply, "description": "No webhook has that name."}},
    summary="A generic JSON webhook, mapped by the webhook source of that name",
    openapi_extra=openapi_body(object, description="Any JSON; its mapping decides the event."),
)
async def post_generic(
    name: Annotated[str, Path(pattern=NAME_PATTERN)],
    body: JsonBody,
    ingest: IngestDep,
    state: StateDep,
) -> EventsReply:
    """Map the body to one event with the webhook's mapping and submit it.

    The event key is the mapped ``event_key`` or a digest of the body, so a resend is a duplicate.
    """
    mapping = state.webhooks.get(name)
    if mapping is None:
        known = ", ".join(["alertmanager", *sorted(state.webhooks)])
        raise ApiError(
            404,
            f"no webhook named {name!r}; known webhooks: {known}",
            hint="declare it in grace.yaml under sources: with type: webhook and name: " + name,
        )
    event = map_generic(body, mapping, name=name)
    key = webhook_event_key(body, mapping)
    check_bounds(event, key, f"webhook {name!r}")
    return await submit_all(ingest, [Submission(event, key)])
