"""Real listening processes for the port inventory tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(600)\n"
)

Listen = Callable[..., tuple[subprocess.Popen[str], int]]


@pytest.fixture
def listen() -> Iterator[Listen]:
    """Start ``python -c <listen> PORT grace-port-test`` (port 0: any free one); returns it and its port."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int = 0) -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [sys.executable, "-c", LISTEN, str(port), "grace-port-test"],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip(), "the listener did not start"
        return proc, int(line)

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
