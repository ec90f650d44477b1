"""The ``tcp`` probe against real listeners and a closed port (time is fake, sockets are real)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grace.events import Event
from grace.sources import SourceContext
from grace.sources.builtin.tcp_probe import TcpProbe, TcpProbeConfig
from grace.testing import FakeClock, SequentialIds

pytestmark = pytest.mark.anyio


class Done(Exception):
    """Raised by :class:`CheckLimitClock` to end a source's loop."""


class CheckLimitClock(FakeClock):
    """A fake clock that runs ``on_sleep(n)`` after each sleep and stops after ``limit`` sleeps."""

    def __init__(self, limit: int, on_sleep: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        """Advance time, run the script for this tick, and stop after ``limit`` ticks."""
        await super().sleep(seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))
        if len(self.sleeps) >= self.limit:
            raise Done


class NoState:
    """Probes keep no rows; any use of state is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"probe used state.{name}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listen(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    return sock


async def _run(
    port: int, clock: CheckLimitClock, tmp_path: Path, **fields: Any
) -> list[tuple[Event, str | None]]:
    config = TcpProbeConfig.model_validate(
        {"type": "tcp", "host": "127.0.0.1", "port": port, "service": "db", **fields}
    )
    ctx = SourceContext(clock=clock, ids=SequentialIds(), state=NoState(), data_dir=tmp_path)
    emitted: list[tuple[Event, str | None]] = []

    async def emit(event: Event, key: str | None) -> None:
        emitted.append((event, key))

    with pytest.raises(Done):
        await TcpProbe(config, ctx).run(emit)
    return emitted


async def test_closed_port_makes_one_event(tmp_path: Path) -> None:
    """Nothing listening: after two refusals, one ``health`` event; later refusals add nothing."""
    port = _free_port()
    emitted = await _run(port, CheckLimitClock(6), tmp_path, failures_before_event=2)

    assert len(emitted) == 1
    event, key = emitted[0]
    assert event.kind == "health"
    assert event.severity == "error"
    assert event.service == "db"
    assert event.source == f"tcp:127.0.0.1:{port}"
    assert event.message == f"tcp connect to 127.0.0.1:{port} failed 2 times: connection refused"
    assert event.attributes["reason"] == "refused"
    assert event.attributes["port"] == port
    assert key is not None
    assert key.startswith(f"tcp:127.0.0.1:{port}:down:")


async def test_listener_goes_away_and_comes_back(tmp_path: Path) -> None:
    """Open → closed (event after 2 failures) → open again (recovery event)."""
    port = _free_port()
    listeners = [_listen(port)]

    def script(tick: int) -> None:
        if tick == 2:
            listeners.pop().close()
        if tick == 6:
            listeners.append(_listen(port))

    try:
        emitted = await _run(port, CheckLimitClock(9, script), tmp_path, failures_before_event=2)
    finally:
        for sock in listeners:
            sock.close()

    assert [(e.severity, e.attributes["recovered"]) for e, _ in emitted] == [
        ("error", False),
        ("info", True),
    ]
    assert emitted[1][0].message == f"tcp connect to 127.0.0.1:{port} recovered after 4 failures"


async def test_unresolvable_host_is_a_failure(tmp_path: Path) -> None:
    """A host name that does not resolve is a failure with reason ``dns``."""
    config = TcpProbeConfig(
        type="tcp", host="no-such-host.invalid", port=80, failures_before_event=1
    )
    ctx = SourceContext(
        clock=CheckLimitClock(1), ids=SequentialIds(), state=NoState(), data_dir=tmp_path
    )
    result = await TcpProbe(config, ctx).check()
    assert result.ok is False
    assert result.reason == "dns"
