"""``/api/playbooks/status``, ``/api/playbooks/metrics`` and ``/api/playbooks/{name}/stats``
over a real engine on SQLite and PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from grace.engine import Engine
from grace.runs import RunStatus, StepStatus

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio

OK = StepStatus.SUCCEEDED


def _zeros(**counts: int) -> dict[str, int]:
    every = {s.value: 0 for s in RunStatus}
    every.update(counts)
    return every


class TestStatus:
    async def test_loaded_playbooks_and_rejected_files(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """Each loaded playbook with its metadata, by name; the broken file with its fault."""
        response = await api_client.get("/api/playbooks/status")
        assert response.status_code == 200, response.text
        body = response.json()
        folder = api_engine.settings.playbook_dirs[0]
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        assert body["items"] == [
            {
                "name": "purge_queue",
                "version": api_engine.playbooks["purge_queue"].version,
                "description": "",
                "owner": "",
                "priority": "medium",
                "risk_level": "critical",
                "autonomy_tier": 1,
                "auto_trigger": False,
                "requires_approval": False,
                "triggers": 0,
                "trigger_types": [],
                "steps": 1,
                "tags": [],
                "file": str(folder / "purge.yaml"),
                "bundled": False,
                "disabled": None,
            },
            {
                "name": "restart_worker",
                "version": api_engine.playbooks["restart_worker"].version,
                "description": "Restart the worker",
                "owner": "",
                "priority": "high",
                "risk_level": "low",
                "autonomy_tier": 2,
                "auto_trigger": True,
                "requires_approval": False,
                "triggers": 2,
                "trigger_types": ["log_message", "manual"],
                "steps": 2,
                "tags": [],
                "file": str(folder / "restart.yaml"),
                "bundled": False,
                "disabled": None,
            },
        ]
        [rejected] = body["rejected"]
        assert rejected["file"] == str(folder / "broken.yaml")
        [problem] = rejected["problems"]
        assert (problem["line"], problem["column"], problem["field"]) == (4, 13, "steps.0.action")
        assert problem["message"] == "steps.0.action: unknown action 'no.such_action'"
        assert problem["hint"].startswith("installed actions: ")

    @pytest.mark.parametrize(
        ("query", "names", "total"),
        [
            ({"risk_level": "critical"}, ["purge_queue"], 1),
            ({"auto_trigger": "true"}, ["restart_worker"], 1),
            ({"risk_level": "high"}, [], 0),
            ({"limit": 1, "offset": 1}, ["restart_worker"], 2),
        ],
    )
    async def test_filters_and_paging(
        self,
        api_client: httpx.AsyncClient,
        query: dict[str, Any],
        names: list[str],
        total: int,
    ) -> None:
        """``risk_level`` and ``auto_trigger`` filter; ``limit``/``offset`` page."""
        body = (await api_client.get("/api/playbooks/status", params=query)).json()
        assert [p["name"] for p in body["items"]] == names
        assert body["total"] == total

    async def test_a_bad_risk_level_is_a_422(self, api_client: httpx.AsyncClient) -> None:
        """Only the four risk levels are accepted."""
        response = await api_client.get("/api/playbooks/status", params={"risk_level": "huge"})
        assert response.status_code == 422
        assert response.json()["error"] == (
            "query.risk_level: Input should be 'low', 'medium', 'high' or 'critical'"
        )

    async def test_without_engine_is_a_503(self, bare_client: httpx.AsyncClient) -> None:
        """Every playbook route needs the engine."""
        for path in (
            "/api/playbooks/status",
            "/api/playbooks/metrics",
            "/api/playbooks/restart_worker/stats",
        ):
            assert (await bare_client.get(path)).status_code == 503


class TestStats:
    async def test_counts_rate_duration_and_last_run(
        self, api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
    ) -> None:
        """Succeeded over the runs that ran; rejected and pending runs count for neither."""
        record_run("restart_worker", [("stop", 2, OK)])
        record_run("restart_worker", [("stop", 4, OK)])
        record_run("restart_worker", [("stop", 6, StepStatus.FAILED)], RunStatus.FAILED)
        queued = api_engine.new_run("restart_worker", status=RunStatus.QUEUED)
        response = await api_client.get("/api/playbooks/restart_worker/stats")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["last_run"]["id"] == queued.id
        assert {k: v for k, v in body.items() if k != "last_run"} == {
            "name": "restart_worker",
            "loaded": True,
            "total_runs": 4,
            "runs_by_status": _zeros(succeeded=2, failed=1, queued=1),
            "success_rate": 0.6667,
            "mean_duration_s": 4.0,
        }

    async def test_a_playbook_that_never_ran(self, api_client: httpx.AsyncClient) -> None:
        """No runs: zeros, and no rate, duration or last run."""
        body = (await api_client.get("/api/playbooks/purge_queue/stats")).json()
        assert body == {
            "name": "purge_queue",
            "loaded": True,
            "total_runs": 0,
            "runs_by_status": _zeros(),
            "success_rate": None,
            "mean_duration_s": None,
            "last_run": None,
        }

    async def test_an_unknown_playbook_is_a_404(self, api_client: httpx.AsyncClient) -> None:
        """With the engine's did-you-mean hint."""
        response = await api_client.get("/api/playbooks/restart_workr/stats")
        assert response.status_code == 404
        assert response.json() == {
            "error": "no playbook named 'restart_workr'",
            "hint": "did you mean 'restart_worker'?",
        }


class TestMetrics:
    async def test_every_playbook_by_name(
        self, api_client: httpx.AsyncClient, record_run: RecordRun
    ) -> None:
        """Loaded playbooks with and without runs, by name, each with its statistics."""
        record_run("restart_worker", [("stop", 3, OK)])
        purge = record_run("purge_queue", [("purge", 1, OK)], RunStatus.ROLLED_BACK)
        body = (await api_client.get("/api/playbooks/metrics")).json()
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        first, second = body["items"]
        assert first["last_run"]["id"] == purge.id
        assert {k: v for k, v in first.items() if k != "last_run"} == {
            "name": "purge_queue",
            "loaded": True,
            "total_runs": 1,
            "runs_by_status": _zeros(rolled_back=1),
            "success_rate": 0.0,
            "mean_duration_s": 1.0,
        }
        assert (second["name"], second["success_rate"], second["mean_duration_s"]) == (
            "restart_worker",
            1.0,
            3.0,
        )

    async def test_runs_of_an_unloaded_playbook_are_kept_and_pages(
        self, api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
    ) -> None:
        """A playbook removed since its runs is listed with ``loaded: false``; paging works."""
        record_run("purge_queue")
        del api_engine.playbooks["purge_queue"]
        body = (await api_client.get("/api/playbooks/metrics", params={"limit": 1})).json()
        assert body["total"] == 2
        [only] = body["items"]
        assert (only["name"], only["loaded"], only["total_runs"]) == ("purge_queue", False, 1)
        page2 = (await api_client.get("/api/playbooks/metrics", params={"offset": 1})).json()
        assert [p["name"] for p in page2["items"]] == ["restart_worker"]


class TestSwitch:
    async def test_disable_blocks_runs_until_enable(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """Disabled: the status says by whom and why, a run request is refused (409) naming
        it; enabled again: the request goes through."""
        url = "/api/playbooks/restart_worker"
        off = await api_client.post(f"{url}/disable", json={"by": "ops", "reason": "flapping"})
        assert off.status_code == 200, off.text
        body = off.json()
        assert (body["disabled"], body["changed"], body["state"]["by"]) == (True, True, "ops")
        again = await api_client.post(f"{url}/disable", json={"by": "bob", "reason": "x"})
        assert again.json()["changed"] is False
        assert again.json()["state"]["reason"] == "flapping"
        listed = (await api_client.get("/api/playbooks/status")).json()["items"]
        state = {p["name"]: p["disabled"] for p in listed}
        assert state["purge_queue"] is None
        assert state["restart_worker"]["reason"] == "flapping"
        refused = await api_client.post(f"{url}/execute", json={"requested_by": "alice"})
        assert refused.status_code == 409
        assert "turned off by ops" in refused.json()["error"]
        on = await api_client.post(f"{url}/enable", json={"by": "ops", "reason": "fixed"})
        assert on.json() == {
            "name": "restart_worker",
            "disabled": False,
            "changed": True,
            "state": None,
        }
        ran = await api_client.post(f"{url}/execute", json={"requested_by": "alice"})
        assert ran.status_code == 201, ran.text

    async def test_disabling_needs_a_reason_and_a_known_name(
        self, api_client: httpx.AsyncClient
    ) -> None:
        blank = await api_client.post(
            "/api/playbooks/restart_worker/disable", json={"by": "ops", "reason": " "}
        )
        assert blank.status_code == 422
        assert blank.json()["error"] == "body.reason: required to disable a playbook"
        unknown = await api_client.post(
            "/api/playbooks/nope/disable", json={"by": "ops", "reason": "x"}
        )
        assert unknown.status_code == 404
