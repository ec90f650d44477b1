"""``POST /api/heartbeats/{name}``: a component says it is alive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from grace.api._deps import IngestDep
from grace.api._errors import ApiError, parse_json
from grace.api.schemas import ErrorReply

__all__ = ("NAME_PATTERN", "router")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
"""A heartbeat's name: letters, digits and ``_ . : -``, at most 200 characters."""

router = APIRouter(prefix="/api/heartbeats", tags=["heartbeats"])


@router.post(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        400: {"model": ErrorReply, "description": "The body is not JSON."},
        422: {"model": ErrorReply, "description": "The detail is not a JSON object."},
    },
    summary="Record a heartbeat",
    openapi_extra={
        "requestBody": {
            "required": False,
            "description": "Optional detail kept with the ping (a JSON object).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_heartbeat(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], request: Request, ingest: IngestDep
) -> Response:
    """Record that ``name`` is alive now, with the body (if any) as its detail."""
    raw = await request.body()
    detail = parse_json(raw) if raw.strip() else {}
    if not isinstance(detail, dict):
        msg = f"body: a heartbeat's detail must be a JSON object, got {type(detail).__name__}"
        raise ApiError(422, msg, hint="send {} or no body at all")
    await ingest.heartbeat(name, detail=detail)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
