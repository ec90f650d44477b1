"""``/api/self_heal``: learning buckets and outcomes, the scheduler's counters and health, over
a real engine (runs decided by the real decider and executed by the real runner) on SQLite
and PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest

from grace.api._deps import ApiState
from grace.api.routes import learning
from grace.engine import Engine
from grace.pipeline import Pipeline
from grace.runs import Run, RunStatus, StepStatus
from grace.testing import FakeClock, decider_for, make_event

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio

OK, FAILED = StepStatus.SUCCEEDED, StepStatus.FAILED
Detect = Callable[..., Run]


@pytest.fixture
def detect(api_engine: Engine, clock: FakeClock) -> Detect:
    """``detect(message, service=…)``: the real decider rules on a log event; returns the run
    it created (``trigger`` event, with its incident and its decision in the audit log)."""
    decider = decider_for(api_engine)
    count = iter(range(1, 1000))

    def run(message: str, *, service: str = "worker", ago_s: float = 0.0) -> Run:
        event = make_event(
            message,
            id=f"evt_{next(count)}",
            service=service,
            time=clock.now() - timedelta(seconds=ago_s),
        )
        [outcome] = decider.decide(event)
        assert outcome.run_id is not None, outcome.decision
        return api_engine.store.get_run(outcome.run_id)

    return run


async def _external(client: httpx.AsyncClient, took_s: int, status: str) -> str:
    now = (await client.get("/api/self_heal/learning")).json()["now"]
    begin = (datetime.fromisoformat(now) - timedelta(seconds=took_s)).isoformat()
    run = await client.post(
        "/api/agent/runs",
        json={"agent": "bot", "playbook": "clear_tmp", "service": "web", "started_at": begin},
    )
    assert run.status_code == 201, run.text
    run_id: str = run.json()["id"]
    done = await client.put(f"/api/agent/runs/{run_id}/complete", json={"status": status})
    assert done.status_code == 200, done.text
    return run_id


@pytest.fixture
async def history(
    api_client: httpx.AsyncClient,
    api_engine: Engine,
    record_run: RecordRun,
    clock: FakeClock,
    detect: Detect,
) -> dict[str, Any]:
    """Runs over four days: an old success (2 s), then today a success (2 s), a failure
    (4 s), a detected run executed by the runner (0 s), an agent's recorded success (10 s)
    and a rejected run (not an outcome)."""
    old = record_run("restart_worker", [("stop", 2, OK)])
    clock.advance(timedelta(days=3).total_seconds())
    ok = record_run("restart_worker", [("stop", 2, OK)])
    bad = record_run("restart_worker", [("stop", 4, FAILED)], final=RunStatus.FAILED)
    detected = detect("worker stuck on queue")
    executed = await api_engine.runner.execute(detected.id)
    assert executed.status is RunStatus.SUCCEEDED
    external = await _external(api_client, 10, "succeeded")
    pending = api_engine.new_run("purge_queue", requested_by="alice")
    api_engine.store.reject_run(pending.id, by="bob", reason="no")
    return {"old": old, "ok": ok, "bad": bad, "detected": executed, "external": external}


class TestLearning:
    async def test_buckets_per_window_playbook_signature_and_trigger(
        self, api_client: httpx.AsyncClient, history: dict[str, Any]
    ) -> None:
        """24 h leaves the old run out; rejected runs are never outcomes; durations are
        finished - started; signature and trigger split each playbook."""
        body = (await api_client.get("/api/self_heal/learning")).json()
        day, week = body["windows"]
        assert (day["window"], week["window"]) == ("24h", "7d")
        assert (day["runs"], day["succeeded"], day["failed"], day["success_rate"]) == (
            4,
            3,
            1,
            0.75,
        )
        assert [
            (b["playbook"], b["runs"], b["succeeded"], b["failed"], b["mean_duration_s"])
            for b in day["playbooks"]
        ] == [("clear_tmp", 1, 1, 0, 10.0), ("restart_worker", 3, 2, 1, 2.0)]
        restart = day["playbooks"][1]
        assert restart["success_rate"] == 0.6667
        assert [(b["playbook"], b["runs"]) for b in week["playbooks"]] == [
            ("clear_tmp", 1),
            ("restart_worker", 4),
        ]
        assert week["playbooks"][1]["mean_duration_s"] == 2.0
        signature = history["detected"].dedupe_key.split(":", 1)[1]
        assert signature
        assert [(b["playbook"], b["signature"], b["runs"]) for b in week["signatures"]] == [
            ("clear_tmp", "", 1),
            ("restart_worker", "", 3),
            ("restart_worker", signature, 1),
        ]
        assert [(b["playbook"], b["trigger"], b["runs"]) for b in day["triggers"]] == [
            ("clear_tmp", "external", 1),
            ("restart_worker", "event", 1),
            ("restart_worker", "manual", 2),
        ]

    async def test_playbook_filter_and_empty_windows(
        self, api_client: httpx.AsyncClient, history: dict[str, Any]
    ) -> None:
        """``playbook`` keeps one playbook's buckets; a name without runs has empty windows."""
        one = (await api_client.get("/api/self_heal/learning?playbook=clear_tmp")).json()
        assert [[b["playbook"] for b in w["playbooks"]] for w in one["windows"]] == [
            ["clear_tmp"],
            ["clear_tmp"],
        ]
        none = (await api_client.get("/api/self_heal/learning?playbook=nope")).json()
        assert [(w["runs"], w["success_rate"], w["playbooks"]) for w in none["windows"]] == [
            (0, None, []),
            (0, None, []),
        ]


class TestOutcomes:
    async def test_newest_first_with_filters_and_paging(
        self, api_client: httpx.AsyncClient, history: dict[str, Any]
    ) -> None:
        """Every finished run that executed, most recently finished first; filters combine;
        the total counts every match."""
        url = "/api/self_heal/learning/outcomes"
        body = (await api_client.get(url)).json()
        assert body["total"] == 5
        assert [i["run_id"] for i in body["items"]] == [
            history["external"],
            history["detected"].id,
            history["bad"].id,
            history["ok"].id,
            history["old"].id,
        ]
        first = body["items"][0]
        assert (first["origin"], first["trigger"], first["duration_s"], first["succeeded"]) == (
            "external",
            "external",
            10.0,
            True,
        )
        failed = (await api_client.get(url, params={"status": "failed"})).json()
        assert [(i["run_id"], i["error"]) for i in failed["items"]] == [
            (history["bad"].id, "it broke")
        ]
        page = (
            await api_client.get(
                url, params={"playbook": "restart_worker", "limit": 2, "offset": 1}
            )
        ).json()
        assert (page["total"], [i["run_id"] for i in page["items"]]) == (
            4,
            [history["bad"].id, history["ok"].id],
        )
        since = history["ok"].finished_at.isoformat()
        recent = (await api_client.get(url, params={"since": since, "service": "web"})).json()
        assert [i["run_id"] for i in recent["items"]] == [history["external"]]
        bad = await api_client.get(url, params={"status": "rejected"})
        assert bad.status_code == 422


class TestSchedulerCounters:
    async def test_from_the_store_outside_the_daemon(
        self, api_client: httpx.AsyncClient, history: dict[str, Any]
    ) -> None:
        """Without a pipeline: ``source`` store, the decisions from the audit log and the runs
        by status."""
        body = (await api_client.get("/api/self_heal/scheduler_counters")).json()
        assert (body["source"], body["pipeline"]) == ("store", None)
        assert body["store"]["decisions"] == {"awaiting_approval": 1, "queued": 1}
        assert body["store"]["runs"] == {"failed": 1, "rejected": 1, "succeeded": 4}

    async def test_the_pipelines_counters_inside_the_daemon(
        self, api_engine: Engine, clock: FakeClock
    ) -> None:
        """Served over the daemon's pipeline (the app's ingest door): its counters (an accepted
        event waiting for the matcher, a duplicate) next to the store's totals. The route is
        called with the state ``create_app`` builds, so the test does not depend on how the
        app authenticates."""
        pipeline = Pipeline(
            store=api_engine.store, decider=cast(Any, None), runner=api_engine.runner
        )
        event = make_event("worker stuck", id="evt_p1", time=clock.now())
        assert (await pipeline.submit(event, event_key="k1")).accepted
        assert not (await pipeline.submit(event, event_key="k1")).accepted
        state = ApiState(
            ingest=pipeline, settings=None, webhooks={}, max_body_bytes=1024, engine=api_engine
        )
        body = (await learning.scheduler_counters(api_engine, state)).model_dump()
        assert body["source"] == "pipeline"
        counters = body["pipeline"]
        assert (counters["received"], counters["duplicates"], counters["queue_depth"]) == (
            {"test": 1},
            {"test": 1},
            1,
        )
        assert body["store"]["events"] == 1


class TestSchedulerHealth:
    URL = "/api/self_heal/scheduler_health"

    async def test_idle_is_ok(self, api_client: httpx.AsyncClient) -> None:
        """Nothing queued, nothing running: ok, no reasons."""
        body = (await api_client.get(self.URL)).json()
        assert (body["state"], body["reasons"], body["queued"], body["emergency_stop"]) == (
            "ok",
            [],
            0,
            None,
        )

    async def test_queued_runs_nobody_picks_up_are_stalled(
        self,
        api_client: httpx.AsyncClient,
        api_engine: Engine,
        record_run: RecordRun,
        clock: FakeClock,
    ) -> None:
        """A queued run older than ``stale_after_s`` with no run started since: stalled. Once a
        run starts, the same queue is only degraded (saturated workers)."""
        record_run("restart_worker", [("stop", 1, OK)])
        api_engine.new_run("restart_worker", status=RunStatus.QUEUED)
        clock.advance(120)
        body = (await api_client.get(self.URL, params={"stale_after_s": 60})).json()
        assert (body["state"], body["queued"], body["queued_stale"]) == ("stalled", 1, 1)
        assert body["oldest_queued_age_s"] == 120.0
        assert "no worker is picking runs up" in body["reasons"][0]
        assert body["last_finished_at"] == "2026-01-01T12:00:02Z"
        record_run("purge_queue", final=None)
        body = (await api_client.get(self.URL, params={"stale_after_s": 60})).json()
        assert (body["state"], body["running"]) == ("degraded", 1)
        assert "the workers are saturated" in body["reasons"][0]
        fresh = (await api_client.get(self.URL, params={"stale_after_s": 600})).json()
        assert (fresh["state"], fresh["queued_stale"]) == ("ok", 0)

    async def test_expired_leases_and_the_emergency_stop_degrade(
        self,
        api_client: httpx.AsyncClient,
        api_engine: Engine,
        record_run: RecordRun,
        clock: FakeClock,
    ) -> None:
        """A running run past its lease, and the emergency stop, each give a reason; an agent's
        open run is counted apart and is no reason."""
        record_run("restart_worker", final=None)  # lease 600 s
        recorded = await api_client.post(
            "/api/agent/runs", json={"agent": "bot", "playbook": "x", "service": "web"}
        )
        assert recorded.status_code == 201
        clock.advance(700)
        api_engine.store.set_emergency_stop(by="alice", reason="db migration")
        body = (await api_client.get(self.URL)).json()
        assert (body["state"], body["running"], body["running_external"]) == ("degraded", 1, 1)
        assert body["lease_expired"] == 1
        assert len(body["reasons"]) == 2
        assert "expired lease" in body["reasons"][0]
        assert "emergency stop is in force (by alice: db migration)" in body["reasons"][1]
        assert body["emergency_stop"] == {"by": "alice", "reason": "db migration"}

    async def test_stale_after_is_bounded(self, api_client: httpx.AsyncClient) -> None:
        """``stale_after_s`` below 1 s is a 422."""
        response = await api_client.get(self.URL, params={"stale_after_s": 0})
        assert response.status_code == 422
        assert response.json()["error"].startswith("query.stale_after_s")
