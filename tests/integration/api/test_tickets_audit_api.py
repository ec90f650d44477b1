"""``/api/tickets``, ``/api/audit`` and ``/api/audit/verify`` over a real engine on SQLite and
PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from grace.audit import PUBLIC_KEY_FILE, load_public_keys, verify
from grace.engine import Engine
from grace.testing import FakeClock

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio


def _tickets(engine: Engine, clock: FakeClock) -> list[str]:
    """File four tickets a second apart; close the second (as an operator would in SQL)."""
    ids = []
    for title, service in (("db down", "db"), ("disk full", "db"), ("cache", "web"), ("x", "")):
        clock.advance(1)
        ids.append(engine.store.open_ticket(title=title, service=service, context={"n": 1}).id)
    with engine.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE tickets SET status = 'closed', closed_at = created_at WHERE id = :id"),
            {"id": ids[1]},
        )
    return ids


class TestTickets:
    async def test_every_ticket_newest_first(
        self, api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
    ) -> None:
        """Open and closed, newest first, each with every field."""
        ids = _tickets(api_engine, clock)
        run = api_engine.new_run("restart_worker")
        clock.advance(1)
        filed = api_engine.store.open_ticket(
            title="still stuck", body="look", severity="critical", service="web", run_id=run.id
        )
        body = (await api_client.get("/api/tickets")).json()
        assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
        assert [t["id"] for t in body["items"]] == [filed.id, ids[3], ids[2], ids[1], ids[0]]
        assert body["items"][0] == {
            "id": filed.id,
            "created_at": "2026-01-01T12:00:05Z",
            "title": "still stuck",
            "body": "look",
            "severity": "critical",
            "status": "open",
            "service": "web",
            "run_id": run.id,
            "context": {},
            "closed_at": None,
        }
        assert body["items"][3]["status"] == "closed"
        assert body["items"][3]["closed_at"] == "2026-01-01T12:00:02Z"

    @pytest.mark.parametrize(
        ("query", "expected", "total"),
        [
            ({"status": "open"}, [3, 2, 0], 3),
            ({"status": "closed"}, [1], 1),
            ({"service": "db"}, [1, 0], 2),
            ({"status": "open", "service": "db"}, [0], 1),
            ({"limit": 2, "offset": 1}, [2, 1], 4),
        ],
    )
    async def test_filters_and_paging(
        self,
        api_client: httpx.AsyncClient,
        api_engine: Engine,
        clock: FakeClock,
        query: dict[str, Any],
        expected: list[int],
        total: int,
    ) -> None:
        """``status`` and ``service`` filter; the total counts every match."""
        ids = _tickets(api_engine, clock)
        body = (await api_client.get("/api/tickets", params=query)).json()
        assert [t["id"] for t in body["items"]] == [ids[i] for i in expected]
        assert body["total"] == total

    async def test_a_bad_status_is_a_422(self, api_client: httpx.AsyncClient) -> None:
        """Only ``open`` and ``closed``."""
        response = await api_client.get("/api/tickets", params={"status": "done"})
        assert response.status_code == 422
        assert response.json()["error"] == "query.status: Input should be 'open' or 'closed'"

    async def test_close_a_ticket(
        self, api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
    ) -> None:
        """An open ticket closes once; who and why are in the audit log; unknown is a 404."""
        ids = _tickets(api_engine, clock)
        url = f"/api/tickets/{ids[0]}/close"
        reply = await api_client.post(url, json={"by": "alice", "reason": "disk replaced"})
        assert reply.status_code == 200, reply.text
        assert (reply.json()["status"], reply.json()["closed_at"]) == (
            "closed",
            "2026-01-01T12:00:04Z",
        )
        again = await api_client.post(url, json={"by": "alice"})
        assert again.status_code == 409
        assert again.json()["error"] == f"ticket {ids[0]} is already closed"
        missing = await api_client.post("/api/tickets/tkt_nope/close", json={"by": "alice"})
        assert missing.status_code == 404
        assert (await api_client.post(url, json={"reason": "x"})).status_code == 422
        [entry] = api_engine.store.audit_entries(action="ticket.closed")
        assert (entry.actor, entry.subject, entry.payload) == (
            "alice",
            ids[0],
            {"reason": "disk replaced"},
        )
        closed = (await api_client.get("/api/tickets?status=closed")).json()
        assert {t["id"] for t in closed["items"]} == {ids[0], ids[1]}

    async def test_without_engine_is_a_503(self, bare_client: httpx.AsyncClient) -> None:
        """No engine, no tickets, no audit."""
        for path in ("/api/tickets", "/api/audit", "/api/audit/verify"):
            assert (await bare_client.get(path)).status_code == 503


class TestAuditEntries:
    async def test_entries_in_chain_order_with_filters(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """Exactly what the store holds, in chain order; ``action`` and ``subject`` filter."""
        for n in range(3):
            api_engine.record("alice", "test.poked", f"thing{n % 2}", n=n)
        api_engine.record("bob", "test.other", "thing0")
        stored = [e.to_dict() for e in api_engine.store.audit_entries()]
        body = (await api_client.get("/api/audit")).json()
        assert (body["total"], body["limit"], body["offset"]) == (len(stored), 50, 0)
        assert body["items"] == stored
        poked = (await api_client.get("/api/audit", params={"action": "test.poked"})).json()
        assert [e["payload"] for e in poked["items"]] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert poked["items"][0]["actor"] == "alice"
        both = (
            await api_client.get("/api/audit", params={"action": "test.poked", "subject": "thing0"})
        ).json()
        assert (both["total"], [e["payload"]["n"] for e in both["items"]]) == (2, [0, 2])

    async def test_after_seq_order_and_paging(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """``after_seq`` follows the log; ``order=desc`` is newest first; pages count."""
        for n in range(5):
            api_engine.record("alice", "test.poked", "x", n=n)
        seqs = [e.seq for e in api_engine.store.audit_entries(action="test.poked")]
        after = (
            await api_client.get(
                "/api/audit", params={"action": "test.poked", "after_seq": seqs[2]}
            )
        ).json()
        assert (after["total"], [e["seq"] for e in after["items"]]) == (2, seqs[3:])
        newest = (
            await api_client.get(
                "/api/audit",
                params={"action": "test.poked", "order": "desc", "limit": 2, "offset": 1},
            )
        ).json()
        assert (newest["total"], [e["seq"] for e in newest["items"]]) == (5, [seqs[3], seqs[2]])

    async def test_bad_query_is_a_422(self, api_client: httpx.AsyncClient) -> None:
        """A negative ``after_seq`` or an unknown order is refused."""
        for query in ({"after_seq": -1}, {"order": "up"}, {"limit": 1000}):
            assert (await api_client.get("/api/audit", params=query)).status_code == 422


class TestAuditVerify:
    async def test_a_sound_chain_verifies_as_the_cli_says(
        self, api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
    ) -> None:
        """The reply is the CLI's ``audit verify --json`` report (timing aside)."""
        record_run("restart_worker")
        api_engine.audit.checkpoint()
        response = await api_client.get("/api/audit/verify")
        assert response.status_code == 200, response.text
        body = response.json()
        public = api_engine.settings.data_dir / PUBLIC_KEY_FILE
        expected = asdict(verify(api_engine.store.engine, public_keys=load_public_keys(public)))
        for key in ("duration_s", "bad_checkpoints", "checkpoint_problems"):
            body.pop(key)
            expected.pop(key)
        assert body == expected
        assert body["ok"] is True
        assert (body["checkpoints_checked"], body["signatures_checked"]) == (1, 1)
        assert body["entries_checked"] == body["head_seq"] > 0

    async def test_an_edited_entry_is_named(
        self, api_client: httpx.AsyncClient, api_engine: Engine, record_run: RecordRun
    ) -> None:
        """An entry rewritten in the database fails verification at its seq (still a 200)."""
        record_run("restart_worker")
        with api_engine.store.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        response = await api_client.get("/api/audit/verify")
        assert response.status_code == 200
        body = response.json()
        assert (body["ok"], body["first_bad_seq"], body["entries_checked"]) == (False, 2, 1)
        assert "2" in body["problem"]
