"""The systemd notify protocol over a real Unix datagram socket (what systemd listens on)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from grace.sdnotify import keep_alive, notify, watchdog_interval


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A datagram socket standing where systemd's would, and the environment naming it."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        yield sock, {"NOTIFY_SOCKET": str(path)}


def test_messages_arrive_one_datagram_each(systemd: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = systemd
    assert notify("READY=1", "STATUS=serving 3 playbooks", environ=env)
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving 3 playbooks"
    assert notify("STOPPING=1", environ=env)
    assert sock.recv(4096) == b"STOPPING=1"


def test_an_abstract_socket_name_is_understood() -> None:
    name = f"grace-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"READY=1"


def test_outside_systemd_nothing_happens(tmp_path: Path) -> None:
    assert notify("READY=1", environ={}) is False
    # A socket that is gone must not break Grace either.
    assert notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_the_watchdog_pings_at_half_its_period() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert (
        watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    )
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_keep_alive_pings_until_cancelled(systemd: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = systemd

    async def main() -> None:
        with anyio.move_on_after(0.35):
            await keep_alive(0.1, environ=env)

    anyio.run(main)
    sock.settimeout(0)
    pings = []
    while True:
        try:
            pings.append(sock.recv(64))
        except BlockingIOError:
            break
    assert 2 <= len(pings) <= 5  # 4 on time; a loaded machine may oversleep
    assert set(pings) == {b"WATCHDOG=1"}
