"""``POST /api/events`` answered without FastAPI: the intake middleware (:mod:`grace.api.routes.events`
documents the route).

It imports neither FastAPI nor Starlette's request classes, so ``grace serve`` answers events
before the rest of the API is loaded (:mod:`grace.api._front`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from grace.api._errors import ApiError, error_reply, parse_json
from grace.api._submit import parse_events, submit_all
from grace.errors import GraceError

if TYPE_CHECKING:
    from grace.ingest import Ingest

__all__ = ("PATH", "EventsIntake")

PATH = "/api/events"

_JSON = (b"content-type", b"application/json")


class EventsIntake:
    """ASGI middleware answering ``POST /api/events`` itself (module docstring)."""

    def __init__(self, app: ASGIApp, *, ingest: Ingest | None = None) -> None:
        self.app = app
        self.ingest = ingest
        """Where events go; None: the app's (``scope["app"].state.grace.ingest``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            ingest = self.ingest if self.ingest is not None else scope["app"].state.grace.ingest
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = parse_json(b"".join(chunks), keep_nul=True)
            reply = await submit_all(ingest, parse_events(body))
            code, payload = 202, reply.model_dump_json().encode()
        except (ApiError, GraceError, HTTPException) as exc:
            code, error = error_reply(exc, "POST", PATH)
            payload = json.dumps(error, ensure_ascii=False, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [(b"content-length", str(len(payload)).encode()), _JSON],
            }
        )
        await send({"type": "http.response.body", "body": payload})
