"""Helpers for the healer watchdog tests: real ``grace`` processes, polling with deadlines.

Every process a test starts (and every process those start) is killed at the end: a
:class:`Pair` remembers each pid it saw, freezes them all first (SIGSTOP, so neither healer can
restart the other meanwhile), then kills them (SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from grace.store import Store
from grace.watchdog import liveness, read_record

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(
    check: Callable[[], Any], *, within: float = 30.0, every: float = 0.1, what: str = ""
) -> Any:
    """Call ``check`` until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within}s: {what or check}")
        time.sleep(every)


def write_config(
    tmp_path: Path, database_url: str, *, bundled: bool = False, **watchdog: Any
) -> Path:
    """A grace.yaml for one serve/watchdog pair, with short timeouts (``bundled``: load the
    bundled playbooks, for the healer playbooks' tests)."""
    import json

    settings: dict[str, Any] = {
        "data_dir": str(tmp_path / ".grace"),
        "log_dir": str(tmp_path / "logs"),
        "database_url": database_url,
        "listen": f"127.0.0.1:{free_port()}",
        "bundled_playbooks": bundled,
        "api": {"auth": False},
        "watchdog": {
            "enabled": True,
            "check_s": 0.2,
            "heartbeat_s": 0.5,
            "peer_check_s": 0.3,
            "peer_timeout_s": 6.0,
            "start_grace_s": 20.0,
            **watchdog,
        },
    }
    path = tmp_path / "grace.yaml"
    path.write_text(json.dumps(settings, indent=1), encoding="utf-8")  # JSON is YAML
    return path


@dataclass
class Pair:
    """``grace serve`` and ``grace watchdog`` for one data dir, and the cleanup of both."""

    config: Path
    data_dir: Path
    store: Store
    seen: set[int] = field(default_factory=set)

    def start(self, role: str) -> subprocess.Popen[bytes]:
        """Start ``grace <role>`` as a real process (its own session, output in the data dir)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = (self.data_dir / f"test-{role}.out").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "grace", "--config", str(self.config), role],
            cwd=self.config.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.seen.add(proc.pid)
        return proc

    def pid(self, role: str) -> int | None:
        """The live, running process of ``role`` (per its record), or None."""
        record = read_record(self.data_dir, role)
        if record is None or liveness(record) != "running":
            return None
        self.seen.add(record.pid)
        return record.pid

    def running(self, role: str, *, other_than: int | None = None) -> int | None:
        pid = self.pid(role)
        return pid if pid is not None and pid != other_than else None

    def healthy(self, role: str, *, within: float = 35.0, other_than: int | None = None) -> int:
        """Wait until ``role`` runs (a new pid when ``other_than``) and pings its rows."""
        from grace.watchdog import observe, rows_of

        def check() -> int | None:
            pid = self.running(role, other_than=other_than)
            if pid is None:
                return None
            state = observe(self.data_dir, self.store, role)
            return pid if all(not state.stale(r, 5.0) for r in rows_of(role)) else None

        return int(eventually(check, within=within, what=f"grace {role} running and pinging"))

    def actions(self, prefix: str = "watchdog.") -> list[str]:
        return [
            e.action for e in self.store.audit_entries(limit=10_000) if e.action.startswith(prefix)
        ]

    def output(self) -> str:
        """Everything the processes printed (for failure messages)."""
        chunks = []
        for path in sorted((self.data_dir).glob("**/*.out")):
            chunks.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(chunks)

    def kill_all(self) -> None:
        """Freeze, then kill, every process of the pair (and their children)."""
        for _ in range(3):
            pids = set(self.seen)
            for role in ("serve", "watchdog"):
                record = read_record(self.data_dir, role)
                if record is not None and liveness(record) != "dead":
                    pids.add(record.pid)
            family: set[int] = set()
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    family.add(pid)
                    family.update(c.pid for c in proc.children(recursive=True))
            live = [p for p in family if psutil.pid_exists(p)]
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in live:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
            for pid in live:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).wait(5)
            self.seen.update(live)
            if not live:
                return
