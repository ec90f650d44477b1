"""``POST /api/events``: events in, one at a time or in batches, idempotent per key.

The hottest route of the API. It is declared as a FastAPI route (the OpenAPI operation, and
:class:`IntakeRoute`, whose handler calls the endpoint without per-request dependency solving
and without re-validating the reply it built), but requests are served by
:class:`~grace.api._intake.EventsIntake`, the innermost middleware: behind the auth gate, the NUL check and the
body limit like every route, it answers ``POST /api/events`` itself and spares the request
Starlette's exception middleware, the router's matching and the request/response wrappers.
Errors are rendered by the same :func:`~grace.api._errors.error_reply` as the app's exception
handlers; anything unexpected propagates to the server-error middleware as from a route
(docs/BENCHMARKS.md, "HTTP intake").
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.routing import APIRoute

from grace.api._deps import ApiState
from grace.api._errors import parse_json
from grace.api._intake import PATH, EventsIntake
from grace.api._submit import parse_events, submit_all
from grace.api.schemas import ErrorReply, EventsBody, EventsReply, openapi_body

__all__ = ("PATH", "EventsIntake", "IntakeRoute", "router")

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorReply, "description": "The body is not JSON."},
    413: {"model": ErrorReply, "description": "The body is larger than the limit (1 MiB)."},
    422: {"model": ErrorReply, "description": "An event is invalid; the error names the field."},
}


class IntakeRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` whose endpoint takes the request and returns a model.

    FastAPI documents the route from its declaration as usual; per request, the handler
    awaits ``endpoint(request)`` and sends the model as JSON with the route's status code.
    Errors raised by the endpoint reach the app's exception handlers as for any route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The lean handler: no dependency solving, no second validation of the reply."""
        endpoint = self.endpoint
        status_code = self.status_code or status.HTTP_200_OK

        async def handler(request: Request) -> Response:
            reply = await endpoint(request)
            return Response(
                reply.model_dump_json().encode(),
                status_code=status_code,
                media_type="application/json",
            )

        return handler


router = APIRouter(prefix=PATH, tags=["events"], route_class=IntakeRoute)


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
async def post_events(request: Request) -> EventsReply:
    """Validate every event, then submit each; a resend with the same ``event_key`` is a duplicate.

    Nothing is submitted when any event of a batch is invalid.
    """
    state = request.app.state.grace
    assert isinstance(state, ApiState)
    return await submit_all(
        state.ingest, parse_events(parse_json(await request.body(), keep_nul=True))
    )
