"""A remediation storm: 10,000 identical events in a few seconds start exactly one run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from grace.api.schemas import MAX_BATCH
from grace.cli import main
from grace.runs import RunStatus

pytestmark = pytest.mark.anyio

STORM = 10_000

SLOW_FIX = f"""
name: restart_worker
metadata: {{risk_level: low, autonomy_tier: 2}}
triggers:
  - type: log_message
    pattern: "worker (?P<worker>\\\\w+) is wedged"
steps:
  - name: restart
    action: shell
    with:
      argv: ["{sys.executable}", "-c", "import time; time.sleep(0.5)"]
"""


@pytest.mark.timeout(360)  # 10,000 decisions: ~1 min on PostgreSQL here, more on a busy machine
async def test_storm_of_identical_events_yields_one_run(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    run_daemon: Any,
    until: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """10,000 copies of one incident: one run; 9,999 suppressions counted on it, in the
    pipeline's counters and in ``grace runs show``; every suppression is in the audit log."""
    write_playbook("restart_worker", SLOW_FIX)
    # The whole storm is one incident: repeats stay suppressed however long deciding takes.
    settings = daemon_settings(
        queue_size=STORM, governance={"dedupe_window": "1h", "cooldown": "1h"}
    )
    async with run_daemon(settings) as daemon, httpx.AsyncClient(timeout=60) as client:
        store = daemon.engine.store
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "id": f"evt_{i:05d}",
                "time": now,
                "source": "storm",
                "kind": "log",
                "service": "miner",
                "message": "worker w7 is wedged",
            }
            for i in range(STORM)
        ]
        for i in range(0, STORM, MAX_BATCH):  # a forwarder posting bursts over real HTTP
            burst = events[i : i + MAX_BATCH]
            reply = await client.post(f"http://{settings.listen}/api/events", json=burst)
            assert reply.status_code == 202, reply.text[:300]
            assert reply.json()["accepted"] == len(burst)
        decided = await until(
            lambda: sum(daemon.pipeline.counters.decisions.values()) >= STORM,
            seconds=240,
            what="a decision for every event",
        )
        assert decided
        runs = store.list_runs(limit=10)
        assert len(runs) == 1
        run = await until(
            lambda: (r := store.get_run(runs[0].id)).finished_at and r, what="the run to end"
        )
        counters = daemon.pipeline.counters
        assert counters.decisions["queued"] == 1
        assert counters.decisions["suppressed"] == STORM - 1
        assert sum(counters.suppressed.values()) == STORM - 1
        assert counters.dropped == {}
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.suppressed == STORM - 1
    suppressed = store.audit_entries(action="decision.suppressed", limit=STORM * 2)
    assert len(suppressed) == STORM - 1
    assert all(e.payload["reason"] and e.payload["run_id"] is None for e in suppressed)

    url = settings.effective_database_url
    assert (
        main(["--data-dir", str(settings.data_dir), "--database-url", url, "runs", "show", run.id])
        == 0
    )
    assert f"suppressed repeats: {STORM - 1}" in capsys.readouterr().out
