"""What ``grace serve`` runs: ``GET /health``, ``POST /api/events`` and ``GET /metrics`` at once,
the rest of the API when first asked for.

FastAPI, the route modules and the dashboard cost ~0.35 s and ~15 MiB to import on this kind of
machine: a third of the daemon's start-up and a sixth of its memory. A daemon is ready when it
answers its health check and takes events, so the front answers those two itself (and Prometheus's scrapes,
so that a scraped daemon stays lean), through the same auth gate, NUL check, body limit and intake as the full app (the same classes, and the same
token cache and session keys), and builds the full app (:func:`grace.api.build_app`) in a worker
thread at the first request for anything else: the dashboard, the OpenAPI document, approvals,
webhooks, heartbeats. That request waits for it (once, ~0.4 s); the event loop does not. Every
configuration error the full app could raise (a misdeclared webhook, auth without a store) is
raised by :func:`grace.api.serve_app` at start-up, not at that first request.

This module imports neither FastAPI nor Starlette's request and response classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from grace.api._errors import json_reply
from grace.api._intake import PATH as EVENTS_PATH
from grace.logs import get_logger

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from grace.engine import Engine
    from grace.ingest import Ingest

__all__ = ("HEALTH_PATH", "METRICS_PATH", "Front", "OwnRoutes", "health")

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"

log = get_logger("api")


async def health(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /health``: the same bytes as the full app's route (``HealthReply``)."""
    from grace import __version__

    await json_reply(send, 200, {"status": "ok", "version": __version__})


class OwnRoutes:
    """The innermost app of the front's own stack (behind the intake): ``GET /metrics``, else
    ``GET /health``. The front sends it nothing else."""

    def __init__(self, ingest: Ingest, engine: Engine | None) -> None:
        self.ingest = ingest
        self.engine = engine
        self._registry: CollectorRegistry | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != METRICS_PATH:
            await health(scope, receive, send)
            return
        # prometheus-client and the collector are imported at the first scrape.
        from prometheus_client import generate_latest

        from grace.metrics import CONTENT_TYPE, build_registry, sources_for

        if self._registry is None:
            self._registry = build_registry(sources_for(self.ingest, self.engine))
        body = await anyio.to_thread.run_sync(generate_latest, self._registry)
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", CONTENT_TYPE.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_OWN = frozenset({("POST", EVENTS_PATH), ("GET", HEALTH_PATH), ("GET", METRICS_PATH)})
"""The requests the front answers itself (method, path)."""


class Front:
    """The ASGI app of ``grace serve`` (module docstring).

    Args:
        own: the front's own stack, answering ``GET /health``, ``POST /api/events`` and
            ``GET /metrics`` (the gate, the NUL check, the body limit, the intake, then
            :class:`OwnRoutes`).
        build: builds the full app; called once, in a worker thread.
    """

    def __init__(self, *, own: ASGIApp, build: Callable[[], ASGIApp]) -> None:
        self._own = own
        self._build = build
        self._app: ASGIApp | None = None
        self._lock: anyio.Lock | None = None

    @property
    def loaded(self) -> bool:
        """Whether the full app has been built."""
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in _OWN:
            await self._own(scope, receive, send)
            return
        app = self._app
        if app is None:
            try:
                app = await self.load()
            except Exception:
                log.exception("the HTTP API failed to load", event_type="api.load_failed")
                if scope["type"] == "http":
                    await json_reply(
                        send,
                        500,
                        {
                            "error": "the HTTP API failed to load",
                            "hint": "the server log has the details",
                        },
                    )
                return
        await app(scope, receive, send)

    async def load(self) -> ASGIApp:
        """Build the full app unless it is built (concurrent callers wait for one build)."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._app is None:
                started = time.perf_counter()
                self._app = await anyio.to_thread.run_sync(self._build)
                log.info(
                    f"HTTP API loaded in {time.perf_counter() - started:.2f} s",
                    event_type="api.loaded",
                )
        return self._app
