"""``GET /api/meta/cycles``: detection → decision → run → outcome, with time to recover, over a
real engine (the real decider and runner) on SQLite and PostgreSQL (when
``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from grace.engine import Engine
from grace.runs import Run, RunStatus
from grace.testing import FakeClock, decider_for, make_event

if TYPE_CHECKING:
    from conftest import RecordRun

pytestmark = pytest.mark.anyio

URL = "/api/meta/cycles"
Detect = Callable[..., Run]


@pytest.fixture
def detect(api_engine: Engine, clock: FakeClock) -> Detect:
    """``detect(message, service=…, ago_s=…)``: the real decider rules on a log event that
    happened ``ago_s`` seconds ago; returns the run it created (or, without one, the
    decision's kind)."""
    decider = decider_for(api_engine)
    count = iter(range(1, 1000))

    def run(message: str, *, service: str = "worker", ago_s: float = 0.0) -> Run | str:
        event = make_event(
            message,
            id=f"evt_{next(count)}",
            service=service,
            severity="error",
            time=clock.now() - timedelta(seconds=ago_s),
        )
        [outcome] = decider.decide(event)
        if outcome.run_id is None:
            return outcome.decision.kind.value
        return api_engine.store.get_run(outcome.run_id)

    return run


@pytest.fixture
async def cycles(
    api_engine: Engine, clock: FakeClock, detect: Detect, record_run: RecordRun
) -> dict[str, Any]:
    """A recovered cycle (event 30 s before the decision, run 5 s after it), then an open one
    on another service decided 10 minutes later, and a manual run (not a cycle)."""
    first = detect("worker stuck on jobs", service="jobs", ago_s=30)
    assert isinstance(first, Run)
    clock.advance(5)
    recovered = await api_engine.runner.execute(first.id)
    assert recovered.status is RunStatus.SUCCEEDED
    clock.advance(600)
    open_run = detect("worker stuck on mail", service="mail")
    assert isinstance(open_run, Run)
    record_run("restart_worker")
    return {"recovered": recovered, "open": open_run}


async def test_each_cycle_from_detection_to_outcome(
    api_client: httpx.AsyncClient, cycles: dict[str, Any]
) -> None:
    """Newest first: the event's time, the decision and its reason, the outcome and the time
    to recover (event → success); a manual run is not a cycle."""
    body = (await api_client.get(URL)).json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    open_cycle, done = body["items"]
    recovered: Run = cycles["recovered"]
    assert (done["run_id"], done["outcome"], done["recovered"]) == (recovered.id, "succeeded", True)
    assert (done["incident"], done["service"], done["playbook"]) == (
        recovered.dedupe_key,
        "jobs",
        "restart_worker",
    )
    assert (done["detected_at"], done["decided_at"]) == (
        "2026-01-01T11:59:30Z",
        "2026-01-01T12:00:00Z",
    )
    assert (done["started_at"], done["finished_at"]) == (
        "2026-01-01T12:00:05Z",
        "2026-01-01T12:00:05Z",
    )
    assert (done["time_to_decide_s"], done["time_to_recover_s"]) == (30.0, 35.0)
    assert (done["decision"], done["event_message"], done["severity"]) == (
        "queued",
        "worker stuck on jobs",
        "error",
    )
    assert done["decision_reason"]
    assert (done["runs"], done["suppressed_repeats"], done["circuit_open_until"]) == ([], 0, None)
    assert (open_cycle["run_id"], open_cycle["outcome"], open_cycle["recovered"]) == (
        cycles["open"].id,
        "open",
        False,
    )
    assert (open_cycle["time_to_recover_s"], open_cycle["finished_at"]) == (None, None)
    assert body["mean_time_to_recover_s"] == 35.0


async def test_filters_and_paging(api_client: httpx.AsyncClient, cycles: dict[str, Any]) -> None:
    """``outcome`` (``open`` or a final status), ``service``, ``playbook`` and ``since``
    filter; ``limit``/``offset`` page; the total counts every match."""

    async def ids(**params: Any) -> tuple[int, list[str]]:
        body = (await api_client.get(URL, params=params)).json()
        return body["total"], [c["run_id"] for c in body["items"]]

    recovered, open_run = cycles["recovered"].id, cycles["open"].id
    assert await ids(outcome="open") == (1, [open_run])
    assert await ids(outcome="succeeded") == (1, [recovered])
    assert await ids(outcome="failed") == (0, [])
    assert await ids(service="jobs") == (1, [recovered])
    assert await ids(playbook="purge_queue") == (0, [])
    assert await ids(since="2026-01-01T12:05:00Z") == (1, [open_run])
    assert await ids(since="2026-01-01T12:05:00") == (1, [open_run])  # no offset: UTC
    assert await ids(since="2026-01-01T13:05:00+01:00") == (1, [open_run])
    assert await ids(since="2026-01-01T12:05:00+01:00") == (2, [open_run, recovered])
    assert await ids(limit=1, offset=1) == (2, [recovered])


async def test_a_suppressed_repeat_counts_on_its_cycle(
    api_client: httpx.AsyncClient, cycles: dict[str, Any], detect: Detect, api_engine: Engine
) -> None:
    """A repeat of the open incident is suppressed and counted on the open cycle, not a
    cycle of its own."""
    assert detect("worker stuck on mail", service="mail") == "suppressed"
    body = (await api_client.get(URL, params={"outcome": "open"})).json()
    assert body["total"] == 1
    assert body["items"][0]["suppressed_repeats"] == 1


async def test_an_invalid_outcome_is_a_422(api_client: httpx.AsyncClient) -> None:
    """``outcome`` is ``open`` or a final run status."""
    response = await api_client.get(URL, params={"outcome": "done"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("query.outcome: Input should be 'open'")
