"""Hangs caught by health checks; the stop path on a frozen process; adoption after a restart."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import anyio
import pytest
from supervisor_helpers import Harness, eventually, free_port, http_get, http_service

from grace.events import Event
from grace.supervisor import Command

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

INTERVAL, FAILURES, TIMEOUT = 0.2, 2, 0.3


def _checked(port: int, **extra: Any) -> dict[str, Any]:
    check = {
        "type": "http",
        "url": f"http://127.0.0.1:{port}/health",
        "interval_s": INTERVAL,
        "failures": FAILURES,
        "timeout_s": TIMEOUT,
        "start_grace_s": 3,
    }
    return http_service("web", port, health=[check], **{"stop_timeout_s": 5, **extra})


async def test_sigstop_is_detected_and_restarted_within_the_bound(harness: Harness) -> None:
    """A frozen service: hung after 2 failed probes, stopped at once (SIGCONT first), answering
    again within interval x failures + timeout + 0.5 s."""
    port = free_port()
    events: list[Event] = []

    async def emit(event: Event, key: str | None) -> None:
        events.append(event)

    # reset_after_s 0: the run is stable at once, so its hang restarts without backoff (as a
    # service up for longer than reset_after_s would).
    sup = harness.supervisor([_checked(port, reset_after_s=0)])
    sup.recorder.emit = emit
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        first = await eventually(lambda: http_get(port), what="first answer")
        await eventually(lambda: harness.status("web") == "running" and _healthy(harness))
        os.kill(int(first), signal.SIGSTOP)
        frozen = time.monotonic()
        second = await eventually(
            lambda: (b := http_get(port, timeout=0.1)) and b != first and b,
            every=0.01,
            what="a new process answers",
        )
        took = time.monotonic() - frozen
        tg.cancel_scope.cancel()
    # The bound (interval x failures + timeout + 0.5 s) is measured by bench/restart.py;
    # here a loaded machine gets slack, and the test proves the hang is caught, not the speed.
    bound = INTERVAL * FAILURES + TIMEOUT + 0.5
    assert took <= bound + 3.0, f"hang → answering took {took:.2f}s (bound {bound:.2f}s)"
    assert int(second) != int(first)
    exited = harness.store.audit_entries(subject="service:web", action="service.exited")
    assert exited[0].payload["reason"].startswith("unhealthy: http")
    assert any(e.kind == "health" and "hung" in e.message for e in events)
    assert any("restarted" in e.message and e.service == "web" for e in events)


def _healthy(harness: Harness) -> bool:
    from grace.supervisor import read_state

    state = read_state(harness.data_dir, "web")
    return bool(state and state.healthy)


async def test_stop_of_a_frozen_process_is_quick(harness: Harness) -> None:
    """Stopping a SIGSTOPped service takes far less than its stop timeout: SIGCONT goes first."""
    port = free_port()
    async with harness.running([_checked(port, stop_timeout_s=5)]) as sup:
        pid = int(await eventually(lambda: http_get(port)))
        os.kill(pid, signal.SIGSTOP)
        began = time.monotonic()
        sup.command("web", Command("stop", by="alice"))
        await eventually(lambda: harness.status("web") == "stopped", every=0.01)
        took = time.monotonic() - began
    assert took < 4.5, f"stop took {took:.2f}s"  # under the 5 s stop timeout: no SIGKILL wait
    stopped = harness.store.audit_entries(subject="service:web", action="service.stopped")
    assert stopped[0].payload["killed"] is False
    assert stopped[0].actor == "alice"


async def test_a_restarted_supervisor_adopts_running_services(harness: Harness) -> None:
    """The service outlives its supervisor; the next one adopts it (same pid), starts nothing,
    and still restarts it when it dies (watched through its pidfd: not our child)."""
    port = free_port()
    service = http_service("web", port, reset_after_s=0.2)
    async with harness.running([service]):
        pid = int(await eventually(lambda: http_get(port)))
    assert http_get(port) == str(pid)  # still running with no supervisor
    async with harness.running([service]):
        await eventually(lambda: "service.adopted" in harness.actions("web"))
        assert harness.pid("web") == pid
        assert harness.actions("web").count("service.started") == 1
        os.kill(pid, signal.SIGKILL)
        new = await eventually(lambda: (b := http_get(port)) and b != str(pid) and b)
    assert harness.actions("web")[-1] == "service.restarted"
    exited = harness.store.audit_entries(subject="service:web", action="service.exited")
    assert exited[-1].payload["pid"] == pid
    assert int(new) != pid


async def test_a_reused_pid_is_not_adopted(harness: Harness) -> None:
    """A state file whose pid is now another process (different create time) starts anew."""
    port = free_port()
    service = http_service("web", port)
    async with harness.running([service]):
        pid = int(await eventually(lambda: http_get(port)))
    from grace.supervisor import read_state
    from grace.supervisor._state import write_state

    state = read_state(harness.data_dir, "web")
    assert state is not None
    os.kill(pid, signal.SIGKILL)
    state.pid = os.getpid()  # alive, but not the service
    write_state(harness.data_dir, state)
    async with harness.running([service]):
        new = int(await eventually(lambda: http_get(port)))
    assert new != pid
    assert "service.adopted" not in harness.actions("web")
