"""What routes get through ``Depends()``: the app's state, the ingest door, the engine, the body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from grace.api._errors import ApiError, parse_json
from grace.config import Settings
from grace.ingest import Ingest
from grace.sources.builtin.webhook import WebhookMapping

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = (
    "ApiState",
    "EngineDep",
    "IngestDep",
    "JsonBody",
    "StateDep",
    "get_engine",
    "get_ingest",
    "get_state",
    "json_body",
)


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
    engine: Engine | None = None
    """The engine behind the governance routes (approvals, runs, emergency stop); None: 503."""


async def get_state(request: Request) -> ApiState:
    """The :class:`ApiState` that :func:`grace.api.create_app` stored on the app."""
    state = request.app.state.grace
    assert isinstance(state, ApiState)
    return state


async def get_ingest(state: Annotated[ApiState, Depends(get_state)]) -> Ingest:
    """The ingest door."""
    return state.ingest


async def get_engine(state: Annotated[ApiState, Depends(get_state)]) -> Engine:
    """The engine; :class:`ApiError` 503 when the app was built without one."""
    if state.engine is None:
        msg = "this server has no engine: approvals, runs and the emergency stop are unavailable"
        hint = "serve the API with 'grace serve' (create_app(..., engine=engine))"
        raise ApiError(503, msg, hint=hint)
    return state.engine


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON (400 when malformed, 413 past the size limit)."""
    return parse_json(await request.body())


StateDep = Annotated[ApiState, Depends(get_state)]
IngestDep = Annotated[Ingest, Depends(get_ingest)]
JsonBody = Annotated[Any, Depends(json_body)]
if TYPE_CHECKING:
    EngineDep = Annotated[Engine, Depends(get_engine)]
else:  # the engine is imported lazily: at run time the annotation only carries the dependency
    EngineDep = Annotated[Any, Depends(get_engine)]
