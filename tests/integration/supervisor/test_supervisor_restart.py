"""Crashes are restarted from the exit event; crash loops back off, go fatal, open one ticket."""

from __future__ import annotations

import itertools
import os
import signal
import sys
from datetime import datetime

import anyio
import pytest
from supervisor_helpers import (
    CRASH_AT_START,
    Harness,
    eventually,
    free_port,
    http_get,
    http_service,
)

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_kill_9_is_restarted_and_healthy_again(harness: Harness) -> None:
    """A SIGKILLed service is restarted at once and answers again; the audit log says so."""
    port = free_port()
    service = http_service("web", port, reset_after_s=0.2)
    async with harness.running([service]):
        first = await eventually(lambda: http_get(port), what="first answer")
        os.kill(int(first), signal.SIGKILL)
        second = await eventually(
            lambda: (b := http_get(port)) and b != first and b, what="a new process answers"
        )
        assert int(second) != int(first)
        assert harness.pid("web") == int(second)
    actions = await eventually(lambda: "service.restarted" in (a := harness.actions("web")) and a)
    assert actions[:3] == ["service.started", "service.exited", "service.restarted"]
    exited = harness.store.audit_entries(subject="service:web", action="service.exited")[0]
    assert exited.payload["signal"] == signal.SIGKILL
    assert exited.payload["pid"] == int(first)


async def test_crash_loop_backs_off_then_goes_fatal_with_one_ticket(harness: Harness) -> None:
    """A program that exits 1 at start: growing gaps, then ``fatal`` and exactly one ticket."""
    service = {
        "name": "broken",
        "argv": [sys.executable, CRASH_AT_START],
        "backoff": {"initial_s": 0.1, "multiplier": 2, "max_s": 5, "jitter": 0},
        "start_limit": {"burst": 4, "window_s": 60},
    }
    async with harness.running([service]):
        await eventually(lambda: harness.status("broken") == "fatal", what="fatal")
        await anyio.sleep(0.3)  # a loop would start it again here; it must not
        assert harness.status("broken") == "fatal"
    starts = harness.store.audit_entries(subject="service:broken")
    times = [
        datetime.fromisoformat(e.time)
        for e in starts
        if e.action in ("service.started", "service.restarted")
    ]
    assert len(times) == 4  # burst 4: the fifth start is refused
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps[1] > gaps[0] * 1.3, gaps
    assert gaps[2] > gaps[1] * 1.3, gaps
    assert [e.action for e in starts].count("service.fatal") == 1
    tickets = [t for t in harness.store.list_tickets() if t.service == "broken"]
    assert len(tickets) == 1
    assert "crash-looping" in tickets[0].title
    log = (harness.log_dir / "services" / "broken.log").read_text()
    assert log.count("boom: cannot start") == 4


async def test_fatal_stays_fatal_across_restarts_and_a_manual_start_clears_it(
    harness: Harness,
) -> None:
    """A restarted supervisor leaves a fatal service alone (no second ticket); start clears it."""
    service = {
        "name": "broken",
        "argv": [sys.executable, CRASH_AT_START],
        "backoff": {"initial_s": 0.05, "jitter": 0},
        "start_limit": {"burst": 2, "window_s": 60},
    }
    async with harness.running([service]):
        await eventually(lambda: harness.status("broken") == "fatal")
    async with harness.running([service]) as sup:
        await anyio.sleep(0.3)
        assert harness.status("broken") == "fatal"
        assert len([t for t in harness.store.list_tickets() if t.service == "broken"]) == 1
        from grace.supervisor import Command

        sup.command("broken", Command("start", by="alice"))
        await eventually(
            lambda: (
                harness.status("broken") == "fatal"
                and harness.actions("broken").count("service.fatal") == 2
            )
        )
    entries = harness.store.audit_entries(subject="service:broken", action="service.started")
    assert [e.actor for e in entries] == ["supervisor", "alice"]
