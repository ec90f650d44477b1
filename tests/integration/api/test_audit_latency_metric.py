"""``grace_audit_append_seconds``: every commit that appends to the audit log is timed, and
``GET /metrics`` exports the histogram; on SQLite and PostgreSQL (when
``GRACE_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from grace.audit import AuditDraft
from grace.audit._log import AppendLatency
from grace.engine import Engine

pytestmark = pytest.mark.anyio

NAME = "grace_audit_append_seconds"


async def _histogram(client: httpx.AsyncClient) -> dict[str, float]:
    """The family's samples by name and ``le`` (``_bucket:0.005``, ``_count``, ``_sum``)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != NAME:
            continue
        assert family.type == "histogram"
        for sample in family.samples:
            suffix = sample.name.removeprefix(NAME)
            key = f"{suffix}:{sample.labels['le']}" if "le" in sample.labels else suffix
            found[key] = sample.value
    return found


async def test_each_appending_commit_is_one_observation(
    api_client: httpx.AsyncClient, api_engine: Engine
) -> None:
    """A state change with its audit entry (the store's transaction) and a standalone append
    (the log's own commit) each add one observation; the buckets are cumulative and end at
    the count; the sum is the time they took."""
    before = api_engine.audit.append_latency.snapshot()
    api_engine.store.open_ticket(title="disk full", service="db")
    api_engine.audit.append_now([AuditDraft("test", "note.added", "t1", {"n": 1})])
    api_engine.audit.append_now([])  # nothing appended: nothing timed
    samples = await _histogram(api_client)
    count = sum(before.counts) + 2
    assert samples["_count"] == count
    assert samples["_bucket:+Inf"] == count
    assert samples["_sum"] > before.sum_s
    cumulative = [samples[f"_bucket:{float(b)}"] for b in AppendLatency.BOUNDS]
    assert cumulative == sorted(cumulative)
    assert cumulative[-1] <= count


async def test_a_read_is_not_an_append(api_client: httpx.AsyncClient, api_engine: Engine) -> None:
    """Reads and transactions without audit entries are not observed."""
    first = await _histogram(api_client)
    api_engine.store.list_runs()
    api_engine.store.emergency_stop()
    assert (await _histogram(api_client))["_count"] == first["_count"]


def test_observations_land_in_their_bucket() -> None:
    """A value equal to a bound is in that bound's bucket (``le``); past the last bound, in
    the unbounded one; the sum adds up."""
    latency = AppendLatency()
    for seconds in (0.0005, 0.0006, 0.003, 100.0):
        latency.observe(seconds)
    snap = latency.snapshot()
    assert snap.bounds == AppendLatency.BOUNDS
    assert (snap.counts[0], snap.counts[1], snap.counts[3], snap.counts[-1]) == (1, 1, 1, 1)
    assert sum(snap.counts) == 4
    assert snap.sum_s == pytest.approx(100.0041)
