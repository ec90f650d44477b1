"""What routes get through ``Depends()``: the app's state, the ingest door, the JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from grace.api._errors import parse_json
from grace.config import Settings
from grace.ingest import Ingest
from grace.sources.builtin.webhook import WebhookMapping

__all__ = ("ApiState", "IngestDep", "JsonBody", "StateDep", "get_ingest", "get_state", "json_body")


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the routes may use, fixed when the app is built (no module globals)."""

    ingest: Ingest
    """Where events, episodes and heartbeats go (the pipeline, or a fake in tests)."""
    settings: Settings | None
    webhooks: Mapping[str, WebhookMapping]
    """Generic webhooks by name (``POST /api/webhooks/{name}``)."""
    max_body_bytes: int
    """Largest request body accepted."""


def get_state(request: Request) -> ApiState:
    """The :class:`ApiState` that :func:`grace.api.create_app` stored on the app."""
    state = request.app.state.grace
    assert isinstance(state, ApiState)
    return state


def get_ingest(state: Annotated[ApiState, Depends(get_state)]) -> Ingest:
    """The ingest door."""
    return state.ingest


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON (400 when malformed, 413 past the size limit)."""
    return parse_json(await request.body())


StateDep = Annotated[ApiState, Depends(get_state)]
IngestDep = Annotated[Ingest, Depends(get_ingest)]
JsonBody = Annotated[Any, Depends(json_body)]
