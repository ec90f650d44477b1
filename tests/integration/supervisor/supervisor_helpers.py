"""Helpers for the supervisor tests: real processes, polling with deadlines, a harness."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from grace import testing
from grace.store import Store
from grace.supervisor import Supervisor, parse_services, read_state

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "services"
HTTP_SERVICE = str(FIXTURES / "http_service.py")
CRASH_AT_START = str(FIXTURES / "crash_at_start.py")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, timeout: float = 0.5) -> str | None:
    """The body of ``GET /health`` (the service's pid), or None when it does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if head.startswith(b"HTTP/1.0 200") else None


eventually = partial(testing.eventually, within=8.0, every=0.02)
"""Poll ``check`` until truthy (grace.testing.eventually; 8 s, every 20 ms by default)."""


@dataclass
class Harness:
    """A store, folders, and a way to run a supervisor over some services."""

    store: Store
    data_dir: Path
    log_dir: Path

    def supervisor(self, services: list[dict[str, Any]]) -> Supervisor:
        return Supervisor(
            parse_services(services),
            store=self.store,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
            poll_s=0.05,
        )

    @asynccontextmanager
    async def running(self, services: list[dict[str, Any]]) -> AsyncIterator[Supervisor]:
        sup = self.supervisor(services)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run)
            try:
                yield sup
            finally:
                tg.cancel_scope.cancel()

    def pid(self, name: str) -> int | None:
        state = read_state(self.data_dir, name)
        return state.pid if state is not None and state.status == "running" else None

    def status(self, name: str) -> str | None:
        state = read_state(self.data_dir, name)
        return None if state is None else state.status

    def actions(self, name: str) -> list[str]:
        return [e.action for e in self.store.audit_entries(subject=f"service:{name}")]


def http_service(name: str, port: int, **extra: Any) -> dict[str, Any]:
    """A service entry for the fixture HTTP service on ``port`` (``-S``: no site, fast start)."""
    return {"name": name, "argv": [sys.executable, "-S", HTTP_SERVICE, str(port)], **extra}
