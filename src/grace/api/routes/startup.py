"""The seeds' overview endpoints, served from the same report as ``grace status``.

``/api/startup/dashboard`` is the whole report; ``/api/startup/health-summary`` its state,
reasons and counts; ``/api/meta/focus`` the services in distress, worst first.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Query

from grace.api._deps import EngineDep
from grace.api.routes.runs import call_engine
from grace.api.schemas import ErrorReply

__all__ = ("router",)

router = APIRouter(tags=["overview"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorReply, "description": "The server has no engine."}
}

_DISTRESS = {"failing": 0, "waiting": 1, "unknown": 2, "healthy": 3}
"""Services ranked for attention: failing first, then those waiting on a run or a human."""


async def _report(engine: Any, *, verify: bool) -> dict[str, Any]:
    from grace.status import build_status, to_json

    report = await call_engine(
        partial(
            build_status,
            engine.store,
            engine.settings,
            now=engine.clock.now(),
            verify_audit=verify,
        )
    )
    return to_json(report)


@router.get(
    "/api/startup/dashboard",
    responses=_UNAVAILABLE,
    summary="The whole overview (what `grace status --format json` prints)",
)
async def dashboard(
    engine: EngineDep,
    verify: bool = Query(True, description="Walk the audit chain (slower on a long log)."),
) -> dict[str, Any]:
    """State (OPERATIONAL / DEGRADED / CRITICAL) with its reasons, mode, emergency stop, runs,
    approvals, circuits, tickets, heartbeats, services, audit and the commands to act."""
    return await _report(engine, verify=verify)


@router.get(
    "/api/startup/health-summary",
    responses=_UNAVAILABLE,
    summary="State, reasons and counts",
)
async def health_summary(engine: EngineDep) -> dict[str, Any]:
    """The short form of the dashboard: no tables, just what a health check needs."""
    report = await _report(engine, verify=False)
    return {
        "state": report["state"],
        "generated_at": report["generated_at"],
        "reasons": report["reasons"],
        "mode": report["mode"],
        "emergency_stop": report["emergency_stop"] is not None,
        "counts": {
            "active_runs": len(report["active_runs"]),
            "pending_approvals": len(report["pending_approvals"]),
            "open_circuits": len(report["circuits"]),
            "open_tickets": len(report["open_tickets"]),
            "failed_24h": report["failed_24h"],
        },
    }


@router.get(
    "/api/meta/focus",
    responses=_UNAVAILABLE,
    summary="Services in distress, worst first",
)
async def focus(engine: EngineDep) -> dict[str, Any]:
    """Every service Grace has acted on, ranked: failing, then waiting, then unknown, then
    healthy; within a rank the most recent first."""
    report = await _report(engine, verify=False)
    newest_first = sorted(report["services"], key=lambda s: str(s["at"]), reverse=True)
    ranked = sorted(newest_first, key=lambda s: _DISTRESS.get(str(s["health"]), 2))
    return {"state": report["state"], "services": ranked}
