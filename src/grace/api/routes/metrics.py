"""``GET /metrics``: Prometheus text exposition, open without authentication (docs/metrics.md).

The collector (:mod:`grace.metrics`) reads the pipeline's counters and the store at each
scrape; it is registered on a registry of this app's own, built at the first scrape, so two
apps in one process never share metrics. prometheus-client is imported at that first scrape,
not when the server starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter, Request, Response

from grace.api._deps import ApiState, StateDep

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from grace.metrics import MetricSources

__all__ = ("CONTENT_TYPE", "router", "sources_from_state")

router = APIRouter(tags=["metrics"])

_REGISTRY_ATTR = "grace_metrics_registry"

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus 2.x parses (prometheus-client's own default;
``grace.metrics.CONTENT_TYPE``, which this module does not import at start-up)."""


def sources_from_state(state: ApiState) -> MetricSources:
    """What the app can read: its ingest's pipeline counters (when it has them) and its store."""
    from grace.metrics import sources_for

    return sources_for(state.ingest, state.engine)


def _registry(request: Request, state: ApiState) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(request.app.state, _REGISTRY_ATTR, None)
    if registry is None:
        from grace.metrics import build_registry

        registry = build_registry(sources_from_state(state))
        setattr(request.app.state, _REGISTRY_ATTR, registry)
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format 0.0.4",
        }
    },
)
async def metrics(request: Request, state: StateDep) -> Response:
    """Pipeline counters and store aggregates in Prometheus' text format (no authentication)."""
    from prometheus_client import generate_latest

    registry = _registry(request, state)
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(content=body, media_type=CONTENT_TYPE)
