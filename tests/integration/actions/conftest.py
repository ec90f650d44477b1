"""Fixtures for the built-in actions' integration tests: a real HTTP server and real contexts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from grace.actions import ActionContext
from grace.types import SystemClock


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, as the engine does."""
    return "asyncio"


MakeCtx = Callable[..., ActionContext]


@pytest.fixture
def make_ctx(tmp_path: Path) -> MakeCtx:
    """Build an ActionContext on the real clock with a data dir in tmp_path."""

    def make(**overrides: Any) -> ActionContext:
        fields: dict[str, Any] = {
            "run_id": "run_test",
            "step": "step_one",
            "attempt": 1,
            "clock": SystemClock(),
            "data_dir": tmp_path / "data",
            "service": "api",
        }
        fields.update(overrides)
        return ActionContext(**fields)

    return make


@dataclass
class Server:
    """A local HTTP server's address and what it received."""

    base: str
    received: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server_state: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        state = self.server_state
        path = self.path.split("?")[0]
        state.hits[path] = state.hits.get(path, 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/ok":
            self._send(200, b"all good")
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode())
        elif path == "/json":
            self._send(200, b'{"a": 1, "items": [1, 2]}', "application/json")
        elif path == "/big":
            self._send(200, b"x" * (100 * 1024))
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/ready-after-3":
            ready = state.hits[path] >= 3
            self._send(200 if ready else 503, b"ready" if ready else b"starting")
        elif path == "/echo":
            echo = {
                "method": self.command,
                "body": body.decode(),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "query": self.path.partition("?")[2],
            }
            self._send(200, json.dumps(echo).encode(), "application/json")
        elif path.startswith("/hook"):
            state.received.append({"path": path, "json": json.loads(body or b"null")})
            self._send(500 if path.endswith("/fail") else 204, b"")
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _route


@pytest.fixture
def http_server() -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 (an ephemeral port) in a thread."""
    state = Server(base="")
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
