"""The HTTP contract: request and response bodies of the ingestion API.

Request bodies are parsed by the routes themselves (so that a fault is reported with the exact
field, e.g. ``body[3].event.kind``); the request models here document them in OpenAPI
(:func:`openapi_body`), and the response models are what the routes return.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from grace.events import EventKind, Severity

__all__ = (
    "MAX_BATCH",
    "AlertmanagerReply",
    "ErrorReply",
    "EventEnvelope",
    "EventIn",
    "EventResult",
    "EventsBody",
    "EventsReply",
    "HealthReply",
    "openapi_body",
)

MAX_BATCH = 1000
"""Most events one ``POST /api/events`` may carry."""


class EventIn(BaseModel):
    """An event as JSON: every field but ``kind`` and ``message`` is optional."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)
    """Unique id; generated (``evt_…``) when absent."""
    time: str | None = None
    """ISO-8601; now when absent, UTC when no offset is given."""
    source: str = Field(default="api", max_length=300)
    """Who sent it; ``api`` when absent."""
    kind: EventKind = "manual"
    service: str = Field(default="", max_length=200)
    severity: Severity = "error"
    message: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)


class EventEnvelope(BaseModel):
    """The SDK's shape: an event plus the key that makes its resends duplicates."""

    model_config = ConfigDict(extra="forbid")

    event: EventIn
    event_key: str | None = Field(default=None, min_length=1, max_length=200)
    """Stable across resends of the same event (same source and key: recorded once)."""


EventsBody = EventIn | EventEnvelope | list[EventIn | EventEnvelope]
"""``POST /api/events`` takes one event, one envelope, or a list of either (at most 1000)."""


class EventResult(BaseModel):
    """What became of one submitted event."""

    id: str
    accepted: bool
    """True when it was new and queued for matching."""
    reason: str = ""
    """Why it was not accepted: ``duplicate`` (same source and key), ``shutting down``…"""


class EventsReply(BaseModel):
    """The answer to events submitted (``POST /api/events``, a generic webhook)."""

    accepted: int
    duplicates: int
    events: list[EventResult]


class AlertmanagerReply(BaseModel):
    """The answer to an Alertmanager payload."""

    firing: int
    """Firing alerts received (each opened its episode; new ones became events)."""
    resolved: int
    """Resolved alerts received (each closed its episode; none became an event)."""
    duplicates: int
    """Firing alerts already received (Alertmanager repeats a group every group_interval)."""


class HealthReply(BaseModel):
    """``GET /health``."""

    status: Literal["ok"] = "ok"
    version: str


class ErrorReply(BaseModel):
    """Every error the API answers, whatever the status."""

    error: str
    """What was wrong, naming the field (``body[2].kind: 'oops' is not one of …``)."""
    hint: str | None = None
    """How to fix it."""
    details: list[str] = Field(default_factory=list)
    """Further faults of the same request, when there are several."""


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``$ref`` replaced by its definition (OpenAPI has no $defs)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def openapi_body(annotation: Any, *, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body the route parses itself."""
    schema = TypeAdapter(annotation).json_schema(by_alias=True)
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}
