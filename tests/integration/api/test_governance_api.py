"""The governance API (approvals, run requests, emergency stop) over a real engine.

Every test runs against a real :class:`grace.engine.Engine` on SQLite and on PostgreSQL (when
``GRACE_TEST_DATABASE_URL`` is set), with playbooks written to the test's folder; the app is
served in-process through ``httpx.ASGITransport``, and once by a real uvicorn over TCP.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from grace.api import create_app
from grace.config import Settings
from grace.engine import Engine
from grace.runs import RunStatus
from grace.store import Store
from grace.testing import FakeClock, StoreIngest

pytestmark = pytest.mark.anyio

WritePlaybook = Callable[[str, str], Path]
MakeEngine = Callable[..., Engine]

CRITICAL = """
name: drop_replica
metadata:
  risk_level: critical
  autonomy_tier: 2
steps:
  - name: say
    action: log
    with: {message: "dropping the replica"}
"""
LOW = """
name: clear_cache
metadata:
  risk_level: low
  autonomy_tier: 2
steps:
  - name: say
    action: log
    with: {message: "clearing {{ vars.what | default('all') }}"}
"""
MEDIUM = """
name: restart_worker
metadata:
  risk_level: medium
  autonomy_tier: 2
steps:
  - name: say
    action: log
    with: {message: "restarting"}
"""

NO_WINDOWS: dict[str, Any] = {"change_windows": {"enabled": False}}


@pytest.fixture
def make_engine(
    tmp_path: Path, database_url: str, playbook_dir: Path, write_playbook: WritePlaybook
) -> Iterator[MakeEngine]:
    """Build an engine (execute mode, windows off unless given) over the three playbooks."""
    for name, text in (("critical", CRITICAL), ("low", LOW), ("medium", MEDIUM)):
        write_playbook(name, text)
    engines: list[Engine] = []

    def make(governance: dict[str, Any] | None = None, **kwargs: Any) -> Engine:
        settings = Settings(
            data_dir=tmp_path / ".grace",
            database_url=database_url,
            playbook_dirs=[playbook_dir],
            log_dir=tmp_path / "logs",
            bundled_playbooks=False,
            mode="execute",
            governance=NO_WINDOWS if governance is None else governance,
        )
        engine = Engine(settings, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def _client(engine: Engine | None, store: Store | None = None) -> httpx.AsyncClient:
    if store is None:
        assert engine is not None
        store = engine.store
    app = create_app(StoreIngest(store), engine=engine, auth=False)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://grace.test",
    )


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    """An engine with change windows off."""
    return make_engine()


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app serving ``engine``."""
    async with _client(engine) as c:
        yield c


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "hint", "details"}, body
    return body


async def _execute(
    client: httpx.AsyncClient, name: str, who: str = "alice", **extra: Any
) -> httpx.Response:
    headers = extra.pop("headers", None)
    return await client.post(
        f"/api/playbooks/{name}/execute",
        json={"requested_by": who, **extra},
        headers=headers,
    )


class TestQuorum:
    async def test_two_distinct_approvers_queue_a_critical_run(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """The requester is refused (four eyes), a repeat approver too; two others queue it."""
        created = await _execute(client, "drop_replica", "alice")
        assert created.status_code == 201, created.text
        run = created.json()
        assert (run["status"], run["approvals_needed"]) == ("awaiting_approval", 2)
        assert (run["trigger"], run["requested_by"]) == ("api", "alice")
        run_id = run["id"]

        own = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "alice"})
        assert own.status_code == 409
        assert "four eyes" in _error(own)["error"]

        first = await client.post(
            f"/api/approvals/{run_id}/approve", json={"approver": "bob", "reason": "seen it"}
        )
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["approvals_needed"]) == (
            "awaiting_approval",
            1,
        )

        again = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "bob"})
        assert again.status_code == 409
        body = _error(again)
        assert "already given a verdict" in body["error"]
        assert body["hint"] == "a quorum needs distinct approvers"

        second = await client.post(
            f"/api/approvals/{run_id[:20]}/approve", json={"approver": "carol"}
        )
        assert second.status_code == 200, second.text
        assert (second.json()["id"], second.json()["status"]) == (run_id, "queued")
        assert second.json()["approvals_needed"] == 0
        assert engine.store.get_run(run_id).status is RunStatus.QUEUED

        shown = await client.get(f"/api/approvals/{run_id[:20]}")
        assert shown.status_code == 200
        verdicts = shown.json()["approvals"]
        assert [(v["approver"], v["verdict"], v["reason"]) for v in verdicts] == [
            ("bob", "approved", "seen it"),
            ("carol", "approved", ""),
        ]
        assert shown.json()["run"]["status"] == "queued"
        pending = (await client.get("/api/approvals")).json()
        assert pending["total"] == 0

    async def test_a_low_risk_request_is_queued_at_once(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """A low-risk playbook needs nobody: the run is created ``queued`` with its vars."""
        created = await _execute(client, "clear_cache", "alice", vars={"what": "sessions"})
        assert created.status_code == 201
        run = created.json()
        assert (run["status"], run["vars"], run["approvals_needed"]) == (
            "queued",
            {"what": "sessions"},
            0,
        )
        stored = engine.store.get_run(run["id"])
        assert (stored.status, stored.trigger, stored.requested_by) == (
            RunStatus.QUEUED,
            "api",
            "alice",
        )

    async def test_approving_a_queued_run_is_a_conflict(self, client: httpx.AsyncClient) -> None:
        """Only a pending run takes a verdict: a queued one answers 409."""
        run_id = (await _execute(client, "clear_cache")).json()["id"]
        response = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "bob"})
        assert response.status_code == 409
        assert "only a pending run" in _error(response)["error"]


class TestReject:
    async def test_a_rejection_needs_a_reason(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """No reason, or a blank one, is a 422 and changes nothing; with one the run ends."""
        run_id = (await _execute(client, "drop_replica")).json()["id"]
        missing = await client.post(f"/api/approvals/{run_id}/reject", json={"approver": "bob"})
        assert missing.status_code == 422
        assert _error(missing)["error"] == "body.reason: Field required"
        blank = await client.post(
            f"/api/approvals/{run_id}/reject", json={"approver": "bob", "reason": "   "}
        )
        assert blank.status_code == 422
        assert _error(blank)["error"].startswith("body.reason:")
        assert engine.store.get_run(run_id).status is RunStatus.AWAITING_APPROVAL

        done = await client.post(
            f"/api/approvals/{run_id}/reject", json={"approver": "bob", "reason": "not now"}
        )
        assert done.status_code == 200
        assert done.json()["status"] == "rejected"
        assert done.json()["error"] == "rejected by bob: not now"
        late = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "carol"})
        assert late.status_code == 409
        shown = (await client.get(f"/api/approvals/{run_id}")).json()
        assert [(v["approver"], v["verdict"]) for v in shown["approvals"]] == [("bob", "rejected")]

    async def test_bodies_are_checked_field_by_field(self, client: httpx.AsyncClient) -> None:
        """Malformed JSON is a 400; a missing approver, an unknown field, a wrong type a 422."""
        run_id = (await _execute(client, "drop_replica")).json()["id"]
        url = f"/api/approvals/{run_id}/approve"
        broken = await client.post(url, content=b"{not json")
        assert broken.status_code == 400
        assert _error(broken)["error"].startswith("the request body is not valid JSON")
        nobody = await client.post(url, json={"reason": "x"})
        assert (nobody.status_code, _error(nobody)["error"]) == (
            422,
            "body.approver: required when API auth is off (the body says who acts)",
        )
        extra = await client.post(url, json={"approver": "bob", "quorum": 0})
        assert extra.status_code == 422
        assert _error(extra)["error"].startswith("body.quorum:")
        typed = await client.post(url, json={"approver": "bob", "override_window": "yes"})
        assert typed.status_code == 422
        assert _error(typed)["error"].startswith("body.override_window:")

    async def test_an_approver_who_rejects_later_gets_an_answer(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """Bob approves (one approval still missing), then rejects: his rejection stands."""
        run_id = (await _execute(client, "drop_replica")).json()["id"]
        await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "bob"})
        response = await client.post(
            f"/api/approvals/{run_id}/reject", json={"approver": "bob", "reason": "on reflection"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rejected"


class TestLookup:
    async def test_unknown_and_prefix_run_ids(self, client: httpx.AsyncClient) -> None:
        """An unknown id is a 404 everywhere; a unique prefix finds the run."""
        run_id = (await _execute(client, "drop_replica")).json()["id"]
        for response in (
            await client.get("/api/approvals/run_nope_nope"),
            await client.post("/api/approvals/run_nope_nope/approve", json={"approver": "bob"}),
            await client.post(
                "/api/approvals/run_nope_nope/reject", json={"approver": "bob", "reason": "x"}
            ),
        ):
            assert response.status_code == 404
            assert _error(response)["error"] == "no run with id 'run_nope_nope'"
        shown = await client.get(f"/api/approvals/{run_id[:-3]}")
        assert shown.status_code == 200
        assert shown.json()["run"]["id"] == run_id
        assert shown.json()["approvals"] == []

    async def test_an_unknown_playbook_is_a_404(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """The error names the playbook and suggests the closest one; nothing is created."""
        response = await _execute(client, "drop_replika")
        assert response.status_code == 404
        body = _error(response)
        assert body["error"] == "no playbook named 'drop_replika'"
        assert body["hint"] == "did you mean 'drop_replica'?"
        assert engine.store.count_runs() == 0

    async def test_pending_runs_are_paginated(self, client: httpx.AsyncClient) -> None:
        """``limit`` and ``offset`` page through pending runs, oldest first; bad values 422."""
        ids = [(await _execute(client, "drop_replica", f"user{i}")).json()["id"] for i in range(3)]
        await _execute(client, "clear_cache")  # queued: not pending
        first = (await client.get("/api/approvals", params={"limit": 2})).json()
        assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
        rest = (await client.get("/api/approvals", params={"limit": 2, "offset": 2})).json()
        assert [r["id"] for r in first["runs"] + rest["runs"]] == ids
        bad = await client.get("/api/approvals", params={"limit": 0})
        assert bad.status_code == 422
        assert _error(bad)["error"].startswith("query.limit:")


class TestIdempotency:
    async def test_the_same_key_returns_the_same_run(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """201 then 200 with the same run id, and one row; a new key makes a second run."""
        headers = {"Idempotency-Key": "deploy-42"}
        first = await _execute(client, "clear_cache", vars={"what": "x"}, headers=headers)
        again = await _execute(client, "clear_cache", vars={"what": "x"}, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        assert again.json()["idempotency_key"] == "deploy-42"
        assert engine.store.count_runs() == 1
        other = await _execute(
            client, "clear_cache", vars={"what": "x"}, headers={"Idempotency-Key": "deploy-43"}
        )
        assert other.status_code == 201
        assert engine.store.count_runs() == 2

    async def test_a_key_reused_for_another_request_is_refused(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """The same key with other vars or another playbook is a 422, not a silent replay."""
        headers = {"Idempotency-Key": "k1"}
        assert (await _execute(client, "clear_cache", headers=headers)).status_code == 201
        other_vars = await _execute(client, "clear_cache", vars={"what": "y"}, headers=headers)
        assert other_vars.status_code == 422
        other_book = await _execute(client, "drop_replica", headers=headers)
        assert other_book.status_code == 422
        assert "already used" in _error(other_book)["error"]
        too_long = await _execute(client, "clear_cache", headers={"Idempotency-Key": "k" * 201})
        assert too_long.status_code == 422
        assert engine.store.count_runs() == 1


class TestEmergencyStop:
    async def test_stop_refuses_runs_until_lifted(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """POST aborts queued runs and refuses new ones (409, emergency_stop); DELETE lifts it."""
        assert (await client.get("/api/emergency-stop")).json() == {
            "active": False,
            "by": None,
            "reason": None,
            "at": None,
        }
        queued = (await _execute(client, "clear_cache")).json()["id"]

        stopped = await client.post(
            "/api/emergency-stop", json={"by": "oncall", "reason": "db migration went wrong"}
        )
        assert stopped.status_code == 200, stopped.text
        body = stopped.json()
        assert (body["active"], body["by"], body["reason"]) == (
            True,
            "oncall",
            "db migration went wrong",
        )
        assert body["aborted_queued"] == [queued]
        assert engine.store.get_run(queued).status is RunStatus.ABORTED
        state = (await client.get("/api/emergency-stop")).json()
        assert (state["active"], state["by"]) == (True, "oncall")
        assert state["at"] is not None

        refused = await _execute(client, "clear_cache")
        assert refused.status_code == 409
        error = _error(refused)
        assert "emergency_stop" in error["error"]
        assert "db migration went wrong" in error["error"]
        assert error["hint"]
        assert engine.store.count_runs() == 1

        nobody = await client.delete("/api/emergency-stop")
        assert nobody.status_code == 422
        lifted = await client.request("DELETE", "/api/emergency-stop", json={"by": "oncall"})
        assert lifted.status_code == 200
        assert lifted.json() == {"active": False, "lifted": True}
        again = await client.delete("/api/emergency-stop", params={"by": "oncall"})
        assert again.json() == {"active": False, "lifted": False}
        assert (await client.get("/api/emergency-stop")).json()["active"] is False
        assert (await _execute(client, "clear_cache")).status_code == 201
        actions = [e.action for e in engine.store.audit_entries()]
        assert "control.emergency_stop" in actions
        assert "control.resumed" in actions

    async def test_stop_needs_someone_to_say_so(self, client: httpx.AsyncClient) -> None:
        """``by`` is required; an empty reason is recorded as 'no reason given'."""
        missing = await client.post("/api/emergency-stop", json={"reason": "x"})
        assert missing.status_code == 422
        assert (
            _error(missing)["error"]
            == "body.by: required when API auth is off (the body says who acts)"
        )
        ok = await client.post("/api/emergency-stop", json={"by": "oncall"})
        assert ok.json()["reason"] == "no reason given"
        conflict = await client.request(
            "DELETE", "/api/emergency-stop", params={"by": "a"}, json={"by": "b"}
        )
        assert conflict.status_code == 422


class TestWindowsAndExpiry:
    async def test_a_run_outside_the_window_needs_an_override(
        self, make_engine: MakeEngine
    ) -> None:
        """With no window open, a medium run waits; approval needs ``override_window``."""
        engine = make_engine(governance={"change_windows": {"enabled": True, "windows": []}})
        async with _client(engine) as client:
            run = (await _execute(client, "restart_worker")).json()
            assert run["status"] == "blocked_change_window"
            url = f"/api/approvals/{run['id']}/approve"
            plain = await client.post(url, json={"approver": "bob"})
            assert plain.status_code == 409
            body = _error(plain)
            assert "outside the change window" in body["error"]
            assert "override-window" in (body["hint"] or "")
            forced = await client.post(url, json={"approver": "bob", "override_window": True})
            assert forced.status_code == 200
            assert forced.json()["status"] == "queued"
            shown = (await client.get(f"/api/approvals/{run['id']}")).json()
            assert [v["override_window"] for v in shown["approvals"]] == [True]

    async def test_expired_runs_leave_the_list(self, make_engine: MakeEngine) -> None:
        """Past ``approval_ttl`` a pending run is marked expired and no longer takes verdicts."""
        clock = FakeClock()
        engine = make_engine(governance={**NO_WINDOWS, "approval_ttl": 60}, clock=clock)
        async with _client(engine) as client:
            run_id = (await _execute(client, "drop_replica")).json()["id"]
            assert (await client.get("/api/approvals")).json()["total"] == 1
            clock.advance(61)
            listed = (await client.get("/api/approvals")).json()
            assert (listed["total"], listed["runs"]) == (0, [])
            late = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": "bob"})
            assert late.status_code == 409
            assert "expired" in _error(late)["error"]
            assert engine.store.get_run(run_id).status is RunStatus.EXPIRED


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


async def test_quorum_over_tcp_with_uvicorn(engine: Engine) -> None:
    """A real server: request a critical run, approve it twice, see it queued in the store."""
    app = create_app(StoreIngest(engine.store), engine=engine, auth=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = _Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            await server.listening.wait()
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            run_id = (await _execute(client, "drop_replica", "alice")).json()["id"]
            for who in ("bob", "carol"):
                done = await client.post(f"/api/approvals/{run_id}/approve", json={"approver": who})
                assert done.status_code == 200
        server.should_exit = True
    assert engine.store.get_run(run_id).status is RunStatus.QUEUED
    approved = [e for e in engine.store.audit_entries() if e.action == "run.approved"]
    assert [e.actor for e in approved] == ["bob", "carol"]


async def test_without_an_engine_every_governance_route_is_503(tmp_path: Path) -> None:
    """An app built without an engine answers 503 with a clear JSON error on each route."""
    from grace.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'grace.db'}")
    try:
        async with _client(None, store) as client:
            calls = [
                client.get("/api/approvals"),
                client.get("/api/approvals/run_x"),
                client.post("/api/approvals/run_x/approve", json={"approver": "bob"}),
                client.post("/api/approvals/run_x/reject", json={"approver": "b", "reason": "r"}),
                client.post("/api/playbooks/any/execute", json={"requested_by": "alice"}),
                client.get("/api/emergency-stop"),
                client.post("/api/emergency-stop", json={"by": "oncall"}),
                client.delete("/api/emergency-stop", params={"by": "oncall"}),
            ]
            for call in calls:
                response = await call
                assert response.status_code == 503, response.request.url
                body = _error(response)
                assert body["error"].startswith("this server has no engine")
                assert "grace serve" in (body["hint"] or "")
            health = await client.get("/health")
            assert health.status_code == 200
    finally:
        store.close()


async def test_concurrent_requests_with_one_key_make_one_run(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """Five simultaneous requests with the same key all answer with one run; one row exists."""
    answers: list[httpx.Response] = []

    async def ask() -> None:
        answers.append(
            await _execute(client, "clear_cache", headers={"Idempotency-Key": "burst-1"})
        )

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(ask)
    assert {r.status_code for r in answers} <= {200, 201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert engine.store.count_runs() == 1
