"""A real `grace serve` under a fake systemd: READY=1 once the API answers, WATCHDOG=1 on time,
STOPPING=1 on SIGTERM; and the log says when the API has no token yet."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from grace.daemon import Daemon  # noqa: F401 - the import the child process repeats

WATCHDOG_USEC = 200_000  # a ping every 0.1 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _messages(sock: socket.socket, until: float) -> list[str]:
    got = []
    while time.monotonic() < until:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(0.05)


def test_serve_speaks_the_notify_protocol(tmp_path: Path, database_url: str) -> None:
    address = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(address))
    sock.settimeout(0.05)
    port = _free_port()
    env = {
        **os.environ,
        "GRACE_DATA_DIR": str(tmp_path / ".grace"),
        "GRACE_DATABASE_URL": database_url,
        "GRACE_LOG_DIR": str(tmp_path / "logs"),
        "GRACE_BUNDLED_PLAYBOOKS": "false",
        "NOTIFY_SOCKET": str(address),
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "grace", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        first: list[str] = []
        while time.monotonic() < deadline and not any(m.startswith("READY=1") for m in first):
            first += _messages(sock, time.monotonic() + 0.2)
            assert proc.poll() is None, proc.communicate()
        ready = next(m for m in first if m.startswith("READY=1"))
        assert f"STATUS=serving 0 playbooks on 127.0.0.1:{port}" in ready
        # READY means the API answers.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        _drain(sock)  # pings sent before now
        pings = _messages(sock, time.monotonic() + 1.0)
        assert 4 <= pings.count("WATCHDOG=1") <= 15, pings  # ~10 in a second
        proc.send_signal(signal.SIGTERM)
        after = _messages(sock, time.monotonic() + 3)
        assert any(m.startswith("STOPPING=1") for m in after), after
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    lines = [json.loads(x) for x in (tmp_path / "logs" / "grace.jsonl").read_text().splitlines()]
    assert [x["message"] for x in lines if x.get("event_type") == "daemon.no_tokens"] == [
        "the API needs a token and none exists: create one with "
        "'grace token create --role admin --name YOU' (docs/api-auth.md)"
    ]
