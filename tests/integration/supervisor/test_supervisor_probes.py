"""Each kind of health check against the real thing: sockets, programs, heartbeat records."""

from __future__ import annotations

import socket
import sys

import pytest
from supervisor_helpers import Harness, free_port

from grace.supervisor import ExecCheck, HeartbeatCheck, HttpCheck, TcpCheck
from grace.supervisor._health import Prober

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_tcp_check(harness: Harness) -> None:
    """Open port: healthy; closed port: not, with the reason."""
    prober = Prober(now=harness.store.clock.now)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ok, _ = await prober.probe(TcpCheck(type="tcp", port=port))
        assert ok
    ok, detail = await prober.probe(TcpCheck(type="tcp", port=free_port()))
    assert not ok
    assert "refused" in detail.lower()


async def test_exec_check(harness: Harness) -> None:
    """Exit 0: healthy; exit 3: not; a program past its timeout: not, and it is killed."""
    prober = Prober(now=harness.store.clock.now)
    ok, _ = await prober.probe(ExecCheck(type="exec", argv=[sys.executable, "-S", "-c", "pass"]))
    assert ok
    fail = ExecCheck(type="exec", argv=[sys.executable, "-S", "-c", "raise SystemExit(3)"])
    assert await prober.probe(fail) == (False, "exit code 3")
    slow = ExecCheck(
        type="exec", argv=[sys.executable, "-S", "-c", "import time; time.sleep(30)"], timeout_s=0.3
    )
    ok, detail = await prober.probe(slow)
    assert not ok
    assert "no answer within 0.3s" in detail


async def test_heartbeat_check(harness: Harness) -> None:
    """Grace's heartbeat records: never seen → not healthy; a fresh ping → healthy."""
    prober = Prober(beats=harness.store.last_beats, now=harness.store.clock.now)
    check = HeartbeatCheck(type="heartbeat", name="worker", max_age_s=5)
    ok, detail = await prober.probe(check)
    assert not ok
    assert "never seen" in detail
    harness.store.beat("worker")
    ok, _ = await prober.probe(check)
    assert ok


async def test_http_check_refused(harness: Harness) -> None:
    """A refused connection is a failure that says why."""
    prober = Prober(now=harness.store.clock.now)
    try:
        check = HttpCheck(type="http", url=f"http://127.0.0.1:{free_port()}/health")
        ok, detail = await prober.probe(check)
        assert not ok
        assert "ConnectError" in detail
    finally:
        await prober.aclose()
