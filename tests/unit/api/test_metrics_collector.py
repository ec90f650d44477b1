"""The metrics collector on its own: pipeline counters in, exposition out; a store that fails.

The store side is exercised against real databases in tests/integration/api/test_metrics.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from grace.api import create_app
from grace.api.routes import metrics as metrics_route
from grace.ingest import Ingest
from grace.metrics import METRIC_NAMES, MetricSources, build_registry
from grace.pipeline import PipelineCounters

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    """Every sample, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_pipeline_counters_become_counters_and_a_gauge() -> None:
    """Each counter of the snapshot appears with its label and exact value; nothing else."""
    counters = PipelineCounters()
    counters.received.update({"log:app": 5, "api": 2})
    counters.duplicates["api"] = 1
    counters.dropped["shutdown"] = 3
    counters.matched = 4
    counters.decisions.update({"queued": 2, "suppressed": 2})
    counters.suppressed["open_incident"] = 2
    counters.runs_finished["succeeded"] = 2
    counters.queue_depth = 7
    counters.queue_full_waits = 1

    text = generate_latest(build_registry(MetricSources(counters=counters.snapshot))).decode()
    samples = samples_of(text)

    assert samples == {
        ("grace_events_received_total", (("source", "api"),)): 2,
        ("grace_events_received_total", (("source", "log:app"),)): 5,
        ("grace_events_duplicate_total", (("source", "api"),)): 1,
        ("grace_events_dropped_total", (("reason", "shutdown"),)): 3,
        ("grace_decisions_total", (("kind", "queued"),)): 2,
        ("grace_decisions_total", (("kind", "suppressed"),)): 2,
        ("grace_suppressed_total", (("guard", "open_incident"),)): 2,
        ("grace_runs_finished_total", (("status", "succeeded"),)): 2,
        ("grace_events_matched_total", ()): 4,
        ("grace_event_queue_depth", ()): 7,
        ("grace_event_queue_full_waits_total", ()): 1,
    }
    assert {name for name, _ in samples} <= METRIC_NAMES


def test_each_scrape_reads_the_counters_again() -> None:
    """Nothing is cached: a counter bumped between scrapes shows its new value."""
    counters = PipelineCounters()
    registry = build_registry(MetricSources(counters=counters.snapshot))
    key = ("grace_events_matched_total", ())
    assert samples_of(generate_latest(registry).decode())[key] == 0
    counters.matched += 3
    assert samples_of(generate_latest(registry).decode())[key] == 3


def test_a_store_that_does_not_answer_reads_store_up_0(tmp_path: Path) -> None:
    """The scrape still succeeds: ``grace_store_up`` 0, no store metrics, counters kept."""
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'grace.db'}")
    try:
        counters = PipelineCounters()
        registry = build_registry(MetricSources(counters=counters.snapshot, engine=broken))
        samples = samples_of(generate_latest(registry).decode())
    finally:
        broken.dispose()
    assert samples[("grace_store_up", ())] == 0
    assert ("grace_event_queue_depth", ()) in samples
    assert not [name for name, _ in samples if name.startswith(("grace_runs", "grace_audit"))]


@pytest.mark.anyio
async def test_without_engine_or_pipeline_the_endpoint_answers_empty(ingest: Ingest) -> None:
    """An app over a plain ingest door and no engine exports nothing, but answers 200."""
    app = create_app(ingest, auth=False)
    app.include_router(metrics_route.router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
    ) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == metrics_route.CONTENT_TYPE
    assert samples_of(response.text) == {}
