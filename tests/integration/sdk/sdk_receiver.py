"""A real HTTP receiver standing in for Grace's ``POST /api/events``, which can be down, slow,
failing, or drop connections; it records every request it read.

A plain module (not ``conftest``) so test files can import the type by a unique name.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records posted envelopes; ``behaviour`` decides each answer.

    Behaviours, consumed one per request (the last repeats): an HTTP status (``202``, ``503``,
    ``422``…), ``"drop"`` (read the request, close the connection without an answer) or
    ``"hang"`` (read it, never answer until stopped).
    """

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[dict[str, Any]] = []
        self.behaviour: list[int | str] = [202]
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- control --------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on the receiver's port (again)."""
        self._stop.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server

    def stop(self) -> None:
        """Stop listening (connections are then refused)."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- what arrived ---------------------------------------------------------------------

    def keys(self) -> Counter[str]:
        """How many times each event_key arrived."""
        with self._lock:
            return Counter(str(r["event_key"]) for r in self.received)

    def events(self) -> list[dict[str, Any]]:
        """The events that arrived, in order."""
        with self._lock:
            return [dict(r["event"]) for r in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` requests arrived; return their events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                break
            time.sleep(0.01)
        return self.events()

    def _next_behaviour(self) -> int | str:
        with self._lock:
            return self.behaviour.pop(0) if len(self.behaviour) > 1 else self.behaviour[0]

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(body)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            """Read the envelope, record it, answer as the behaviour says."""
            assert self.path == "/api/events", self.path
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            receiver._record(body)
            behaviour = receiver._next_behaviour()
            if behaviour == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if behaviour == "hang":
                receiver._stop.wait(30)
                return
            status = int(behaviour)
            data = json.dumps({"accepted": int(status < 300)}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
