"""A real process writes to its log; Grace's log source, matcher, governor and runner respond."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.cli import main
from grace.runs import RunStatus

pytestmark = pytest.mark.anyio

LOCK_PLAYBOOK = """
name: db_lock_recovery
priority: high
triggers:
  - type: log_message
    pattern: 'database is locked'
    severity: error
    service: vectors
steps:
  - name: find_holders
    action: shell
    with: {argv: ["echo", "checking {{ event.attributes.file }}"]}
  - name: note
    action: log
    with: {message: "recovered from: {{ event.message }}"}
"""

# A real child: holds a SQLite write lock while another connection times out on it, and logs
# the genuine "database is locked" error to its log file.
LOCKER = r"""
import logging, sqlite3, sys, tempfile, os
logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
db = os.path.join(tempfile.mkdtemp(), "v.db")
holder = sqlite3.connect(db, isolation_level=None); holder.execute("create table t(x)"); holder.execute("begin exclusive")
other = sqlite3.connect(db, timeout=0.05)
logging.info("service starting")
try:
    other.execute("insert into t values (1)")
except sqlite3.OperationalError as exc:
    logging.error("write failed: sqlite3.OperationalError: %s", exc)
logging.info("service still running")
"""


async def test_child_writes_database_is_locked_and_the_run_completes(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    run_daemon: Any,
    until: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lock error in a real process's log starts the playbook's run; it completes with a timeline."""
    write_playbook("db_lock_recovery", LOCK_PLAYBOOK)
    log = tmp_path / "vectors.log"
    log.touch()
    settings = daemon_settings(sources=[{"type": "log", "path": str(log), "service": "vectors"}])
    async with run_daemon(settings) as daemon:
        await anyio.to_thread.run_sync(
            lambda: subprocess.run([sys.executable, "-c", LOCKER, str(log)], check=True, timeout=30)
        )
        assert "database is locked" in log.read_text()
        store = daemon.engine.store
        runs = await until(lambda: [r for r in store.list_runs() if r.finished_at], what="the run")
        (run,) = runs
        assert run.playbook == "db_lock_recovery"
        assert run.status is RunStatus.SUCCEEDED
        assert "database is locked" in run.event["message"]
        assert run.service == "vectors"
    for key in ("GRACE_DATA_DIR", "GRACE_DATABASE_URL", "GRACE_LOG_DIR"):
        monkeypatch.setenv(key, str(getattr(settings, key.removeprefix("GRACE_").lower())))
    monkeypatch.setenv("GRACE_DATABASE_URL", settings.effective_database_url)
    capsys.readouterr()
    assert main(["runs", "show", run.id]) == 0
    shown = capsys.readouterr().out
    assert "succeeded" in shown
    assert "find_holders" in shown
    assert "note" in shown


@pytest.mark.slow
async def test_noise_load_every_matching_line_one_decision(
    daemon_settings: Callable[..., Any],
    write_playbook: Callable[[str, str], Path],
    run_daemon: Any,
    until: Any,
    tmp_path: Path,
) -> None:
    """10,000 lines/s of noise for 60 s with a matching line every second: one decision per
    matching line, no drop."""
    write_playbook(
        "counted",
        """
        name: counted
        triggers:
          - {type: log_message, pattern: 'FATAL shard (?P<n>\\d+) lost'}
        steps:
          - {name: a, action: log, with: {message: "shard {{ diagnosis.n }}"}}
        """,
    )
    log = tmp_path / "noise.log"
    log.touch()
    seconds = int(os.environ.get("GRACE_NOISE_SECONDS", "60"))
    settings = daemon_settings(
        mode="observe", sources=[{"type": "log", "path": str(log), "service": "noise"}]
    )
    writer = (
        "import sys, time\n"
        "out = open(sys.argv[1], 'a', buffering=1)\n"
        "seconds = int(sys.argv[2]); start = time.monotonic()\n"
        "for s in range(seconds):\n"
        "    for j in range(10):\n"
        "        out.write(''.join(f'2026-11-22 INFO GET /api/items/{s*10000+j*1000+k} 200 3ms\\n' for k in range(1000)))\n"
        "        if j == 5: out.write(f'2026-11-22 ERROR FATAL shard {s} lost\\n')\n"
        "        time.sleep(max(0, start + s + (j + 1) / 10 - time.monotonic()))\n"
    )
    async with run_daemon(settings) as daemon:
        await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                [sys.executable, "-c", writer, str(log), str(seconds)],
                check=True,
                timeout=seconds + 60,
            )
        )
        counters = daemon.pipeline.counters
        await until(
            lambda: counters.decisions["proposed"] >= seconds, seconds=30, what="all decisions"
        )
        await anyio.sleep(1)
        assert counters.decisions["proposed"] == seconds
        assert sum(counters.decisions.values()) == seconds
        assert counters.dropped == {}
        assert sum(counters.duplicates.values()) == 0
        runs = daemon.engine.store.list_runs(limit=10_000)
        assert sorted(int(r.captures["n"]) for r in runs) == list(range(seconds))
