"""``/api/silences``: create, list and end silences over a real engine on SQLite and
PostgreSQL (when ``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from grace.engine import Engine
from grace.testing import FakeClock

pytestmark = pytest.mark.anyio


async def _add(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"matchers": ["service=db"], "author": "alice", "comment": "maintenance", **fields}
    return await client.post("/api/silences", json=body)


class TestCreate:
    async def test_a_duration_from_now(
        self, api_client: httpx.AsyncClient, api_engine: Engine
    ) -> None:
        """``duration: "2h"`` from now; stored, audited and returned ``active``."""
        response = await _add(
            api_client, matchers=["service=db", "alertname=~Disk.*"], duration="2h"
        )
        assert response.status_code == 201, response.text
        assert response.json() == {
            "id": "sil_000001",
            "matchers": ['service="db"', 'alertname=~"Disk.*"'],
            "starts_at": "2026-01-01T12:00:00Z",
            "ends_at": "2026-01-01T14:00:00Z",
            "author": "alice",
            "comment": "maintenance",
            "created_at": "2026-01-01T12:00:00Z",
            "state": "active",
        }
        [stored] = api_engine.store.silences()
        assert stored["id"] == "sil_000001"
        [entry] = api_engine.store.audit_entries(action="silence.created")
        assert (entry.actor, entry.subject) == ("alice", "sil_000001")

    async def test_a_later_window_with_ends_at(self, api_client: httpx.AsyncClient) -> None:
        """``starts_at`` in the future and ``ends_at``: ``pending`` until it starts."""
        response = await _add(
            api_client,
            starts_at="2026-01-01T13:00:00+00:00",
            ends_at="2026-01-01T15:30:00+01:00",
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["starts_at"], body["ends_at"], body["state"]) == (
            "2026-01-01T13:00:00Z",
            "2026-01-01T14:30:00Z",
            "pending",
        )

    async def test_the_default_is_one_hour(self, api_client: httpx.AsyncClient) -> None:
        """Neither ``duration`` nor ``ends_at``: one hour, as ``grace silence add``."""
        body = (await _add(api_client)).json()
        assert body["ends_at"] == "2026-01-01T13:00:00Z"

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            (
                {"duration": "2h", "ends_at": "2026-01-02T00:00:00Z"},
                "body: give duration or ends_at, not both",
            ),
            (
                {"matchers": []},
                "body.matchers: List should have at least 1 item after validation, not 0",
            ),
            ({"author": " "}, "body.author: String should have at least 1 character"),
            ({"extra": 1}, "body.extra: Extra inputs are not permitted"),
            (
                {"ends_at": "2025-12-31T00:00:00Z"},
                "silence sil_000001: ends_at 2025-12-31T00:00:00+00:00 must be after starts_at 2026-01-01T12:00:00+00:00",
            ),
        ],
    )
    async def test_invalid_silences_are_a_422(
        self, api_client: httpx.AsyncClient, api_engine: Engine, fields: dict[str, Any], error: str
    ) -> None:
        """Each fault is named; nothing is stored."""
        response = await _add(api_client, **fields)
        assert response.status_code == 422
        assert response.json()["error"] == error
        assert api_engine.store.silences() == []

    @pytest.mark.parametrize(
        ("fields", "part"),
        [
            ({"matchers": ["no operator"]}, "no operator"),
            ({"duration": "soon"}, "body.duration"),
            ({"comment": ""}, "needs a comment"),
            ({"ends_at": "2026-01-02T00:00:00"}, "ends_at"),
        ],
    )
    async def test_checks_of_the_silence_itself(
        self, api_client: httpx.AsyncClient, fields: dict[str, Any], part: str
    ) -> None:
        """A bad matcher, duration, empty comment or naive time: 422 saying which."""
        response = await _add(api_client, **fields)
        assert response.status_code == 422, response.text
        assert part in response.json()["error"]

    async def test_an_end_past_year_9999_is_a_422(self, api_client: httpx.AsyncClient) -> None:
        """A start near the end of the calendar plus a duration cannot overflow into a 500."""
        response = await _add(api_client, starts_at="9999-12-31T23:00:00Z", duration="1d")
        assert response.status_code == 422
        assert response.json() == {
            "error": "body: the silence would end after the year 9999",
            "hint": "give a shorter duration or an earlier start",
        }

    async def test_a_body_that_is_not_json_is_a_400(self, api_client: httpx.AsyncClient) -> None:
        """Malformed JSON is a 400."""
        response = await api_client.post("/api/silences", content=b"{nope")
        assert response.status_code == 400


class TestListAndExpire:
    async def test_states_filters_and_paging(
        self, api_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """``current`` by default; ``state`` picks one; ``all`` includes ended ones."""
        short = (await _add(api_client, duration="10m")).json()["id"]
        clock.advance(1)
        later = (await _add(api_client, starts_at="2026-01-01T18:00:00Z")).json()["id"]
        clock.advance(60)
        long = (await _add(api_client, duration="1d")).json()["id"]
        clock.advance(15 * 60)  # the short one has ended, the later one not begun

        async def ids(**query: Any) -> tuple[int, list[str]]:
            body = (await api_client.get("/api/silences", params=query)).json()
            return body["total"], [s["id"] for s in body["items"]]

        assert await ids() == (2, [long, later])
        assert await ids(state="active") == (1, [long])
        assert await ids(state="pending") == (1, [later])
        assert await ids(state="expired") == (1, [short])
        assert await ids(state="all") == (3, [long, later, short])
        assert await ids(state="all", limit=1, offset=1) == (3, [later])

    async def test_delete_ends_a_silence_by_query_or_body(
        self, api_client: httpx.AsyncClient, api_engine: Engine, clock: FakeClock
    ) -> None:
        """The silence ends now, audited with who ended it; a second DELETE is a 404."""
        first = (await _add(api_client)).json()["id"]
        second = (await _add(api_client)).json()["id"]
        clock.advance(30)
        response = await api_client.delete(f"/api/silences/{first}", params={"by": "bob"})
        assert response.status_code == 200, response.text
        assert (response.json()["state"], response.json()["ends_at"]) == (
            "expired",
            "2026-01-01T12:00:30Z",
        )
        by_body = await api_client.request(
            "DELETE", f"/api/silences/{second}", json={"by": "carol"}
        )
        assert by_body.status_code == 200, by_body.text
        ended = api_engine.store.audit_entries(action="silence.expired")
        assert [(e.actor, e.subject) for e in ended] == [("bob", first), ("carol", second)]
        again = await api_client.delete(f"/api/silences/{first}", params={"by": "bob"})
        assert again.status_code == 404
        assert again.json() == {
            "error": f"no silence {first!r} is in force",
            "hint": "list them with GET /api/silences?state=all",
        }

    async def test_delete_needs_who(self, api_client: httpx.AsyncClient) -> None:
        """No ``by``: 422; a body and a query that disagree: 422."""
        sid = (await _add(api_client)).json()["id"]
        missing = await api_client.delete(f"/api/silences/{sid}")
        assert missing.status_code == 422
        assert (
            missing.json()["error"]
            == "body.by: required when API auth is off (the body says who acts)"
        )
        both = await api_client.request(
            "DELETE", f"/api/silences/{sid}", params={"by": "x"}, json={"by": "y"}
        )
        assert both.status_code == 422

    async def test_without_engine_is_a_503(self, bare_client: httpx.AsyncClient) -> None:
        """Silences need the engine."""
        assert (await bare_client.get("/api/silences")).status_code == 503
        assert (await _add(bare_client)).status_code == 503
        assert (await bare_client.delete("/api/silences/x?by=a")).status_code == 503
