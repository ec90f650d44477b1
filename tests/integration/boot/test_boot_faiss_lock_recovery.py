"""``grace boot`` hitting a real "database is locked": the knowledge base's database_locked fix
(boot_fix_database_locked) runs the bundled faiss_lock_recovery on the configured database,
which ends the allow-listed stuck writer; the smoke stage passes on its re-run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grace.boot import BootReport
from grace.config import Settings

pytestmark = pytest.mark.postgres

APP = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "vectors"

SMOKE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE heartbeat SET n = n + 1")
conn.execute("COMMIT")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_for(check: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        time.sleep(0.05)


def healthy(port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/api/vectors/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_a_locked_database_at_boot_is_released_by_faiss_lock_recovery(
    make_settings: Callable[..., Settings],
    boot: Callable[..., BootReport],
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
) -> None:
    db, port = tmp_path / "index.db", free_port()
    service = subprocess.Popen(
        [sys.executable, str(APP / "vector_service.py"), str(port), str(db)],
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    started.append(service)
    wait_for(lambda: healthy(port), "the vector service answers 200")
    ready = tmp_path / "writer.pid"
    writer = subprocess.Popen(
        [sys.executable, str(APP / "stuck_writer.py"), str(db), str(ready)],
        start_new_session=True,
    )
    started.append(writer)
    wait_for(ready.exists, "the stuck writer holds its lock")

    settings = make_settings(
        mode="execute",
        bundled_playbooks=True,
        governance={"change_windows": {"enabled": False}},
        config={
            "faiss_lock_recovery": {
                "db_path": str(db),
                "health_url": f"http://127.0.0.1:{port}/api/vectors/health",
                "allow_cmdline": [r"stuck_writer\.py"],
            }
        },
        boot={
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [
                        {"name": "db_write", "argv": [sys.executable, "-c", SMOKE, str(db)]}
                    ],
                }
            ]
        },
    )
    report = boot(settings)

    assert report.ok, report.stages
    (fix,) = report.fixes
    assert (fix.pattern, fix.fix_playbook, fix.outcome, fix.run_status, fix.verified) == (
        "database_locked",
        "boot_fix_database_locked",
        "applied",
        "succeeded",
        True,
    )
    assert writer.wait(timeout=10) == -signal.SIGTERM
    assert healthy(port)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 300
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
