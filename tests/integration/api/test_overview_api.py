"""``/api/startup/dashboard``, ``/api/startup/health-summary`` and ``/api/meta/focus``: the
``grace status`` report over HTTP, on a real engine (both databases)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from grace.engine import Engine
from grace.runs import RunStatus

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio


async def test_an_idle_engine_is_operational(api_client: httpx.AsyncClient) -> None:
    """Nothing happened: OPERATIONAL, no reasons, zero counts, an audit that verifies."""
    summary = (await api_client.get("/api/startup/health-summary")).json()
    assert summary["state"] == "OPERATIONAL"
    assert summary["reasons"] == []
    assert summary["emergency_stop"] is False
    assert summary["counts"] == {
        "active_runs": 0,
        "pending_approvals": 0,
        "open_circuits": 0,
        "open_tickets": 0,
        "failed_24h": 0,
    }
    board = (await api_client.get("/api/startup/dashboard")).json()
    assert board["state"] == "OPERATIONAL"
    assert board["audit"]["verified"] is True
    assert board["audit"]["ok"] is True


async def test_distress_is_ranked_and_explained(
    api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
) -> None:
    """A failed repair on ``db``, a healthy ``web``, a critical run waiting for two approvers
    and an emergency stop: CRITICAL with each reason; ``db`` leads the focus list."""
    record_run("restart_worker", final=RunStatus.SUCCEEDED, vars={"service": "web"})
    record_run("restart_worker", final=RunStatus.FAILED, vars={"service": "db"})
    waiting = api_engine.new_run("purge_queue", requested_by="alice")
    assert waiting.status is RunStatus.AWAITING_APPROVAL
    api_engine.store.set_emergency_stop(by="sre", reason="bad deploy")

    summary = (await api_client.get("/api/startup/health-summary")).json()
    assert summary["state"] == "CRITICAL"
    assert summary["emergency_stop"] is True
    codes = {r["code"] for r in summary["reasons"]}
    assert {"emergency_stop", "pending_approval", "failed_run"} <= codes
    assert summary["counts"]["pending_approvals"] == 1
    assert summary["counts"]["failed_24h"] == 1

    board = (await api_client.get("/api/startup/dashboard?verify=false")).json()
    assert board["audit"]["verified"] is False
    assert [p["id"] for p in board["pending_approvals"]] == [waiting.id]
    assert f"grace approve {waiting.id}" in board["commands"]

    focus = (await api_client.get("/api/meta/focus")).json()
    assert focus["state"] == "CRITICAL"
    assert [(s["service"], s["health"]) for s in focus["services"]] == [
        ("db", "failing"),
        ("web", "healthy"),
    ]


async def test_without_engine_is_a_503(bare_client: httpx.AsyncClient) -> None:
    for path in ("/api/startup/dashboard", "/api/startup/health-summary", "/api/meta/focus"):
        assert (await bare_client.get(path)).status_code == 503
