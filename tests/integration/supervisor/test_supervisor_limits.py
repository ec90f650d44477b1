"""The start-limit rules with real processes: stable runs clear the count; adoption is no start."""

from __future__ import annotations

import os
import signal

import pytest
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def _kill_and_wait_new(port: int) -> int:
    old = int(await eventually(lambda: http_get(port)))
    os.kill(old, signal.SIGKILL)
    return int(await eventually(lambda: (b := http_get(port)) and b != str(old) and b))


async def test_stable_runs_clear_the_count(harness: Harness) -> None:
    """Rule 2: burst 2, but each run is stable (reset_after_s 0.2) before it is killed: three
    kills in a row never make the service fatal."""
    port = free_port()
    service = http_service("web", port, reset_after_s=0.2, start_limit={"burst": 2, "window_s": 60})
    async with harness.running([service]):
        for _ in range(3):
            await eventually(lambda: http_get(port))
            await eventually(lambda: _stable_for(harness, 0.4), what="stable")
            await _kill_and_wait_new(port)
        assert harness.status("web") == "running"
    assert harness.actions("web").count("service.restarted") == 3


def _stable_for(harness: Harness, seconds: float) -> bool:
    from datetime import UTC, datetime

    from grace.supervisor import read_state

    state = read_state(harness.data_dir, "web")
    if state is None or state.status != "running" or state.started_at is None:
        return False
    age = (datetime.now(UTC) - datetime.fromisoformat(state.started_at)).total_seconds()
    return age >= seconds


async def test_adoption_is_not_a_start(harness: Harness) -> None:
    """Rule 4: burst 1. The first supervisor's start used it up; the second one adopts (no
    count), so the crash it then sees is still restarted, not fatal."""
    port = free_port()
    service = http_service("web", port, start_limit={"burst": 1, "window_s": 60})
    async with harness.running([service]):
        await eventually(lambda: http_get(port))
    async with harness.running([service]):
        await eventually(lambda: "service.adopted" in harness.actions("web"))
        await _kill_and_wait_new(port)
        assert harness.status("web") == "running"
