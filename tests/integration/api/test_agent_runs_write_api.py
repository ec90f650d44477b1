"""Runs recorded by external agents (``POST /api/agent/runs``, ``…/steps``, ``…/complete``),
over a real engine on SQLite and PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from grace.cli import main
from grace.engine import Engine
from grace.errors import RunError
from grace.events import Event
from grace.runner import find_orphans
from grace.testing import FakeClock
from grace.tokens import Role

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio

RUN = {"agent": "fixer-bot", "playbook": "clear_tmp", "service": "web", "reason": "disk 95%"}


async def _record(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/agent/runs", json={**RUN, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestLifecycle:
    async def test_record_steps_complete_and_read_back(
        self, api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
    ) -> None:
        """A recorded run is running (trigger ``external``) and active until completed; its
        steps keep their times and retries count attempts; the timeline shows them all."""
        run = await _record(api_client, started_at="2026-01-01T13:59:00+02:00")
        assert (run["status"], run["trigger"], run["requested_by"]) == (
            "running",
            "external",
            "fixer-bot",
        )
        assert (run["playbook"], run["playbook_version"], run["service"]) == (
            "clear_tmp",
            "external",
            "web",
        )
        assert run["started_at"] == "2026-01-01T11:59:00Z"
        active = (await api_client.get("/api/agent/runs/active")).json()
        assert [r["id"] for r in active["items"]] == [run["id"]]

        steps = f"/api/agent/runs/{run['id']}/steps"
        first = await api_client.post(
            steps,
            json={
                "name": "rm_tmp",
                "status": "failed",
                "action": "shell",
                "started_at": "2026-01-01T11:59:10Z",
                "ended_at": "2026-01-01T06:59:12.5-05:00",
                "error": "permission denied",
            },
        )
        assert first.status_code == 201, first.text
        assert (first.json()["attempt"], first.json()["index"]) == (1, 0)
        assert (first.json()["duration_ms"], first.json()["offset_ms"]) == (2500.0, 10000.0)
        retry = await api_client.post(
            steps,
            json={
                "name": "rm_tmp",
                "status": "succeeded",
                "duration_s": 4,
                "ended_at": "2026-01-01T11:59:30Z",
                "output": "freed 3 GiB",
                "outputs": {"freed_bytes": 3221225472},
            },
        )
        assert retry.status_code == 201, retry.text
        assert (retry.json()["attempt"], retry.json()["index"]) == (2, 0)
        assert retry.json()["started_at"] == "2026-01-01T11:59:26Z"
        clock.advance(5)
        check = await api_client.post(steps, json={"name": "check", "status": "skipped"})
        assert (check.json()["index"], check.json()["duration_ms"]) == (1, 0.0)
        assert check.json()["started_at"] == "2026-01-01T12:00:05Z"

        done = await api_client.put(
            f"/api/agent/runs/{run['id']}/complete", json={"status": "succeeded"}
        )
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["finished_at"]) == (
            "succeeded",
            "2026-01-01T12:00:05Z",
        )
        assert done.json()["duration_s"] == 65.0
        assert done.json()["last_completed_step"] == "rm_tmp"
        assert (await api_client.get("/api/agent/runs/active")).json()["total"] == 0
        timeline = (await api_client.get(f"/api/agent/runs/{run['id']}/timeline")).json()
        assert [(s["step"], s["attempt"], s["status"]) for s in timeline["steps"]] == [
            ("rm_tmp", 1, "failed"),
            ("rm_tmp", 2, "succeeded"),
            ("check", 1, "skipped"),
        ]
        assert timeline["steps"][1]["outputs"] == {
            "freed_bytes": 3221225472,
            "output": "freed 3 GiB",
        }
        assert timeline["steps"][0]["error"] == "permission denied"

    async def test_every_write_is_audited_like_the_runners(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """``run.created``, ``run.started``, ``step.<status>`` and ``run.<status>`` entries,
        with the agent as actor (or who completed it)."""
        run = await _record(api_client, started_at="2026-01-01T11:59:00Z")
        await api_client.post(
            f"/api/agent/runs/{run['id']}/steps",
            json={"name": "restart", "status": "failed", "duration_s": 1.5, "error": "boom"},
        )
        await api_client.put(
            f"/api/agent/runs/{run['id']}/complete",
            json={"status": "failed", "error": "restart failed", "agent": "oncall-alice"},
        )
        entries = api_engine.store.audit_entries(subject=run["id"])
        assert [(e.actor, e.action) for e in entries] == [
            ("fixer-bot", "run.created"),
            ("fixer-bot", "run.started"),
            ("fixer-bot", "step.failed"),
            ("oncall-alice", "run.failed"),
        ]
        created = entries[0].payload
        assert (created["trigger"], created["service"], created["reason"]) == (
            "external",
            "web",
            "disk 95%",
        )
        step = entries[2].payload
        assert (step["step"], step["duration_ms"], step["error"], step["recorded"]) == (
            "restart",
            1500.0,
            "boom",
            True,
        )
        assert entries[3].payload["error"] == "restart failed"
        assert api_engine.audit.verify().ok

    async def test_a_stored_event_is_copied_onto_the_run(
        self, api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
    ) -> None:
        """``event_id`` naming a stored event carries the event (message, severity); an
        unknown one is kept as an id."""
        event = Event(
            id="evt_disk",
            time=clock.now(),
            source="api",
            kind="metric",
            service="web",
            severity="critical",
            message="disk 95% full",
        )
        api_engine.store.insert_event(event)
        known = await _record(api_client, event_id="evt_disk")
        assert known["event_id"] == "evt_disk"
        run = api_engine.store.get_run(known["id"])
        assert (run.event["message"], run.severity) == ("disk 95% full", "critical")
        unknown = await _record(api_client, event_id="evt_elsewhere")
        assert api_engine.store.get_run(unknown["id"]).event == {"id": "evt_elsewhere"}

    async def test_grace_runs_lists_a_recorded_run(
        self,
        api_client: httpx.AsyncClient,
        api_engine: Engine,
        tmp_path: Path,
        database_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``grace runs --json`` (another process's view of the same database) shows it."""
        run = await _record(api_client)
        config = tmp_path / "cli.yaml"
        config.write_text(f"bundled_playbooks: false\nlog_dir: {json.dumps(str(tmp_path))}\n")
        code = main(
            [
                "--config",
                str(config),
                "--data-dir",
                str(tmp_path / ".grace"),
                "--database-url",
                database_url,
                "runs",
                "--json",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        listed = {r["id"]: r for r in json.loads(out)}
        assert (listed[run["id"]]["status"], listed[run["id"]]["trigger"]) == (
            "running",
            "external",
        )


class TestNeverExecutedByGrace:
    async def test_the_runner_cannot_claim_it(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """A worker's claim (as the pipeline's workers make it) is refused; the run is left
        as the agent recorded it."""
        run = await _record(api_client)
        with pytest.raises(RunError, match="recorded by an external agent"):
            api_engine.store.claim_run(run["id"], owner="host:1", lease_s=30)
        with pytest.raises(RunError, match="recorded by an external agent"):
            api_engine.store.claim_run(run["id"], owner="host:1", lease_s=30, force=True)
        after = api_engine.store.get_run(run["id"])
        assert (after.status.value, after.fence, after.lease_owner) == ("running", 0, None)

    async def test_crash_recovery_does_not_treat_it_as_an_orphan(
        self,
        api_client: httpx.AsyncClient,
        api_engine: Engine,
        record_run: RecordRun,
        clock: FakeClock,
    ) -> None:
        """A running run without a lease looks orphaned to recovery, unless it is recorded:
        only Grace's own dead-worker run is found."""
        recorded = await _record(api_client)
        own = record_run("restart_worker", final=None)
        clock.advance(3600)
        orphans = find_orphans(api_engine.store, now=clock.now(), self_owner="me:1")
        assert [o.id for o in orphans] == [own.id]
        assert recorded["id"] not in {r.id for r in api_engine.store.running_runs()}


class TestRefusals:
    async def test_unknown_run_is_a_404(self, api_client: httpx.AsyncClient) -> None:
        """Steps and completion of a run that does not exist: 404."""
        step = await api_client.post(
            "/api/agent/runs/run_nope/steps", json={"name": "x", "status": "succeeded"}
        )
        done = await api_client.put(
            "/api/agent/runs/run_nope/complete", json={"status": "succeeded"}
        )
        assert (step.status_code, done.status_code) == (404, 404)
        assert step.json()["error"] == "no run with id 'run_nope'"

    async def test_completing_twice_or_adding_steps_after_is_a_409(
        self, api_client: httpx.AsyncClient
    ) -> None:
        """A completed run takes no more steps and no second completion."""
        run = await _record(api_client)
        url = f"/api/agent/runs/{run['id']}"
        assert (await api_client.put(f"{url}/complete", json={"status": "failed"})).is_success
        again = await api_client.put(f"{url}/complete", json={"status": "succeeded"})
        step = await api_client.post(f"{url}/steps", json={"name": "late", "status": "succeeded"})
        assert (again.status_code, step.status_code) == (409, 409)
        assert again.json() == {
            "error": f"run {run['id']} is already failed; a completed run takes no more",
            "hint": "record a new run for another attempt",
        }

    async def test_graces_own_runs_are_a_409(
        self, api_client: httpx.AsyncClient, record_run: RecordRun
    ) -> None:
        """An agent cannot write steps into, or complete, a run Grace's runner executes."""
        own = record_run("restart_worker", final=None)
        step = await api_client.post(
            f"/api/agent/runs/{own.id}/steps", json={"name": "x", "status": "succeeded"}
        )
        done = await api_client.put(
            f"/api/agent/runs/{own.id}/complete", json={"status": "succeeded"}
        )
        assert (step.status_code, done.status_code) == (409, 409)
        assert step.json()["error"].startswith(f"run {own.id} was started by Grace")
        assert step.json()["hint"] == "record your own run first: POST /api/agent/runs"

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"playbook": "p", "service": "web"}, "body.agent: required when API auth is off"),
            ({**RUN, "playbook": "bad name"}, "body.playbook: String should match pattern"),
            ({**RUN, "started_at": "2026-01-01T12:00:00"}, "body.started_at: Input should have"),
            ({**RUN, "started_at": "2026-01-01T13:00:00Z"}, "body.started_at: 2026-01-01T13:00"),
            ({**RUN, "extra": 1}, "body.extra: Extra inputs are not permitted"),
            (
                {**RUN, "started_at": "0001-01-01T00:00:00+01:00"},
                "body.started_at: 0001-01-01T00:00:00+01:00 falls outside the representable",
            ),
            ({**RUN, "reason": "a\u0000b"}, "body.reason: text holds a NUL character"),
        ],
    )
    async def test_invalid_run_is_a_422(
        self, api_client: httpx.AsyncClient, body: dict[str, Any], error: str
    ) -> None:
        """Missing, malformed, naive or future fields: 422 naming the field."""
        response = await api_client.post("/api/agent/runs", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"].startswith(error)

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"name": "x", "status": "running"}, "body.status: Input should be 'succeeded'"),
            (
                {
                    "name": "x",
                    "status": "failed",
                    "started_at": "2026-01-01T11:59:40Z",
                    "ended_at": "2026-01-01T11:59:30Z",
                },
                "body.ended_at: 2026-01-01T11:59:30+00:00 is before started_at",
            ),
            (
                {
                    "name": "x",
                    "status": "failed",
                    "started_at": "2026-01-01T11:59:30Z",
                    "ended_at": "2026-01-01T11:59:40Z",
                    "duration_s": 3,
                },
                "body.duration_s: 3 s does not match ended_at - started_at (10 s)",
            ),
            (
                {"name": "x", "status": "succeeded", "started_at": "2026-01-01T11:00:00Z"},
                "body.started_at: 2026-01-01T11:00:00+00:00 is before the run started",
            ),
            (
                {"name": "x", "status": "succeeded", "ended_at": "2026-01-01T12:00:01Z"},
                "body.ended_at: 2026-01-01T12:00:01+00:00 is in the future",
            ),
            ({"name": "x", "status": "succeeded", "duration_s": -1}, "body.duration_s: Input"),
            (
                {
                    "name": "x",
                    "status": "failed",
                    "ended_at": "0001-01-01T00:00:00Z",
                    "duration_s": 5,
                },
                "body: the step's times fall outside the representable range",
            ),
        ],
    )
    async def test_invalid_step_is_a_422(
        self, api_client: httpx.AsyncClient, body: dict[str, Any], error: str
    ) -> None:
        """Bad status, reversed, disagreeing, out-of-run or future times: 422 naming why."""
        run = await _record(api_client, started_at="2026-01-01T11:59:00Z")
        response = await api_client.post(f"/api/agent/runs/{run['id']}/steps", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"].startswith(error)

    async def test_completion_outside_the_run_is_a_422(
        self, api_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """``finished_at`` before the run's start, or a final status an agent cannot give."""
        run = await _record(api_client)
        url = f"/api/agent/runs/{run['id']}/complete"
        early = await api_client.put(
            url, json={"status": "failed", "finished_at": "2026-01-01T11:00:00Z"}
        )
        assert early.status_code == 422
        assert "is before the run started" in early.json()["error"]
        odd = await api_client.put(url, json={"status": "rolled_back"})
        assert odd.status_code == 422
        clock.advance(timedelta(minutes=1).total_seconds())
        ok = await api_client.put(url, json={"status": "failed"})
        assert ok.json()["duration_s"] == 60.0


class TestWithAuth:
    async def test_the_tokens_holder_is_the_agent(
        self, make_app: Callable[..., Any], api_engine: Engine
    ) -> None:
        """With auth on, the run, its steps and its end are recorded as the token's holder; a
        body naming someone else is a 403."""
        _, secret = api_engine.store.create_token(name="fixer-bot", role=Role.OPERATOR, by="t")
        transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://grace.test", headers=headers
        ) as client:
            body = {"playbook": "clear_tmp", "service": "web"}
            run = await client.post("/api/agent/runs", json=body)
            assert run.status_code == 201, run.text
            assert run.json()["requested_by"] == "fixer-bot"
            url = f"/api/agent/runs/{run.json()['id']}"
            other = await client.post("/api/agent/runs", json={**body, "agent": "mallory"})
            assert other.status_code == 403
            assert other.json()["error"] == "agent 'mallory' is not this token's holder 'fixer-bot'"
            step = await client.post(f"{url}/steps", json={"name": "x", "status": "succeeded"})
            assert step.status_code == 201, step.text
            done = await client.put(f"{url}/complete", json={"status": "succeeded"})
            assert done.status_code == 200, done.text
        actors = {e.actor for e in api_engine.store.audit_entries(subject=run.json()["id"])}
        assert actors == {"fixer-bot"}
