"""``/api/agent/runs``: active runs, the paged list and one run's timeline, over a real engine
on SQLite and PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from grace.engine import Engine
from grace.runs import RunStatus, StepStatus

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio

OK = StepStatus.SUCCEEDED


class TestActive:
    async def test_lists_only_open_runs_newest_first(
        self, api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
    ) -> None:
        """Finished runs are left out; running, queued and pending ones are listed."""
        record_run("restart_worker", [("stop", 1, OK)])
        running = record_run("restart_worker", final=None)
        queued = api_engine.new_run("restart_worker", status=RunStatus.QUEUED)
        pending = api_engine.new_run("purge_queue", requested_by="alice")
        assert pending.status is RunStatus.AWAITING_APPROVAL
        body = (await api_client.get("/api/agent/runs/active")).json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0)
        assert [(r["id"], r["status"]) for r in body["items"]] == [
            (pending.id, "awaiting_approval"),
            (queued.id, "queued"),
            (running.id, "running"),
        ]

    async def test_filters_by_playbook_and_pages(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """``playbook`` filters; ``limit``/``offset`` page; the total counts every match."""
        ids = [api_engine.new_run("restart_worker", status=RunStatus.QUEUED).id for _ in range(3)]
        api_engine.new_run("purge_queue", status=RunStatus.QUEUED)
        body = (
            await api_client.get(
                "/api/agent/runs/active",
                params={"playbook": "restart_worker", "limit": 2, "offset": 1},
            )
        ).json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 2, 1)
        assert [r["id"] for r in body["items"]] == [ids[1], ids[0]]

    async def test_without_engine_is_a_503(self, bare_client: httpx.AsyncClient) -> None:
        """An app built without an engine cannot read runs."""
        response = await bare_client.get("/api/agent/runs/active")
        assert response.status_code == 503
        assert response.json()["error"].startswith("this server has no engine")


class TestList:
    async def test_every_run_newest_first_with_totals(
        self, api_client: httpx.AsyncClient, record_run: RecordRun
    ) -> None:
        """Without filters: every run, newest first; the reply has the JSON of each run."""
        first = record_run("restart_worker", [("stop", 2, OK)])
        second = record_run("purge_queue", [("purge", 1, StepStatus.FAILED)], RunStatus.FAILED)
        body = (await api_client.get("/api/agent/runs")).json()
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        assert [r["id"] for r in body["items"]] == [second.id, first.id]
        failed = body["items"][0]
        assert (failed["playbook"], failed["status"], failed["error"]) == (
            "purge_queue",
            "failed",
            "it broke",
        )
        assert failed["duration_s"] == 1.0
        assert failed["started_at"] == "2026-01-01T12:00:04Z"
        assert failed["finished_at"] == "2026-01-01T12:00:05Z"

    async def test_status_and_playbook_filters(
        self, api_client: httpx.AsyncClient, record_run: RecordRun
    ) -> None:
        """``status`` and ``playbook`` combine; totals count the matches, not the page."""
        ok = [record_run("restart_worker") for _ in range(3)]
        record_run("restart_worker", final=RunStatus.FAILED)
        record_run("purge_queue")
        by_status = (
            await api_client.get("/api/agent/runs", params={"status": "succeeded", "limit": 1})
        ).json()
        assert (by_status["total"], len(by_status["items"])) == (4, 1)
        both = (
            await api_client.get(
                "/api/agent/runs",
                params={"status": "succeeded", "playbook": "restart_worker", "offset": 1},
            )
        ).json()
        assert both["total"] == 3
        assert [r["id"] for r in both["items"]] == [ok[1].id, ok[0].id]
        none = (await api_client.get("/api/agent/runs", params={"playbook": "nope"})).json()
        assert none == {"total": 0, "limit": 50, "offset": 0, "items": []}

    @pytest.mark.parametrize(
        ("query", "error"),
        [
            ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
            ({"limit": 501}, "query.limit: Input should be less than or equal to 500"),
            ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
        ],
    )
    async def test_bad_paging_is_a_422(
        self, api_client: httpx.AsyncClient, query: dict[str, int], error: str
    ) -> None:
        """``limit`` is 1…500 and ``offset`` at least 0."""
        response = await api_client.get("/api/agent/runs", params=query)
        assert response.status_code == 422
        assert response.json() == {"error": error, "hint": "see /docs for the expected shape"}

    async def test_an_unknown_status_is_a_422(self, api_client: httpx.AsyncClient) -> None:
        """``status`` must be a run status."""
        response = await api_client.get("/api/agent/runs", params={"status": "done"})
        assert response.status_code == 422
        assert response.json()["error"].startswith("query.status: Input should be 'proposed'")


class TestTimeline:
    async def test_steps_with_durations_and_offsets(
        self, api_client: httpx.AsyncClient, record_run: RecordRun
    ) -> None:
        """Each attempt in start order with its duration and its offset from the run's start."""
        run = record_run("restart_worker", [("stop", 1.5, OK), ("start", 0.25, StepStatus.FAILED)])
        response = await api_client.get(f"/api/agent/runs/{run.id}/timeline")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["run"]["id"] == run.id
        assert body["run"]["duration_s"] == 1.75
        assert body["approvals"] == []
        assert body["steps"] == [
            {
                "id": body["steps"][0]["id"],
                "step": "stop",
                "phase": "main",
                "index": 0,
                "attempt": 1,
                "action": "log",
                "status": "succeeded",
                "started_at": "2026-01-01T12:00:01Z",
                "finished_at": "2026-01-01T12:00:02.500000Z",
                "duration_ms": 1500.0,
                "offset_ms": 0.0,
                "params": {"message": "stop"},
                "outputs": {"ok": True},
                "error": None,
            },
            {
                "id": body["steps"][1]["id"],
                "step": "start",
                "phase": "main",
                "index": 1,
                "attempt": 1,
                "action": "log",
                "status": "failed",
                "started_at": "2026-01-01T12:00:02.500000Z",
                "finished_at": "2026-01-01T12:00:02.750000Z",
                "duration_ms": 250.0,
                "offset_ms": 1500.0,
                "params": {"message": "start"},
                "outputs": {"ok": False},
                "error": "start failed",
            },
        ]

    async def test_approvals_are_part_of_the_timeline(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """A rejected run shows its verdict; a unique id prefix finds the run."""
        run = api_engine.new_run("purge_queue", requested_by="alice")
        api_engine.store.reject_run(run.id, by="bob", reason="not now")
        body = (await api_client.get(f"/api/agent/runs/{run.id[:8]}/timeline")).json()
        assert (body["run"]["id"], body["run"]["status"]) == (run.id, "rejected")
        assert body["steps"] == []
        assert body["approvals"] == [
            {
                "approver": "bob",
                "verdict": "rejected",
                "reason": "not now",
                "override_window": False,
                "created_at": "2026-01-01T12:00:00Z",
            }
        ]

    async def test_an_unknown_run_is_a_404(self, api_client: httpx.AsyncClient) -> None:
        """No run with that id: 404 with the CLI's hint."""
        response = await api_client.get("/api/agent/runs/run_999999/timeline")
        assert response.status_code == 404
        assert response.json() == {
            "error": "no run with id 'run_999999'",
            "hint": "list runs with 'grace runs'",
        }
