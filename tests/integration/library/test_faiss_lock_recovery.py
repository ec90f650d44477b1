"""The bundled ``faiss_lock_recovery`` playbook against a real stuck SQLite writer.

A real vector service (tests/fixtures/apps/vectors/vector_service.py) runs under a real
``grace serve`` Daemon (``services:``); a ``log`` source tails its log. A real process takes
``BEGIN EXCLUSIVE`` on the service's SQLite file and sleeps: the service logs "database is
locked" and its health endpoint answers 503. Grace, in execute mode, must bring it back:
health 200, the writer gone, the database intact (integrity_check ok, every row still there).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest

from grace.config import Settings
from grace.daemon import Daemon
from grace.runs import Run, RunStatus
from grace.supervisor import read_state
from grace.testing import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

APP = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "vectors"
SERVICE = str(APP / "vector_service.py")
WRITER = str(APP / "stuck_writer.py")
ROWS = 300
LOCKED = (503, {"ok": False, "error": "database is locked"})
FINAL = {"succeeded", "failed", "rolled_back", "timed_out", "aborted", "interrupted"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> tuple[int, dict[str, Any]] | None:
    """``(status, body)`` of the service's health endpoint, or None when it does not answer."""
    url = f"http://127.0.0.1:{port}/api/vectors/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return None


def rows_and_integrity(db: Path) -> tuple[int, str]:
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = int(conn.execute("SELECT count(*) FROM vectors").fetchone()[0])
        check = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
    return rows, check


@dataclass
class Stack:
    """The daemon, its service, and the paths a test needs."""

    daemon: Daemon
    port: int
    db: Path
    tmp: Path

    def runs(self) -> list[Run]:
        return self.daemon.engine.store.list_runs(playbook="faiss_lock_recovery", limit=100)

    def finished(self) -> list[Run]:
        return [r for r in self.runs() if r.status.value in FINAL]

    def outputs(self, run: Run) -> dict[str, dict[str, Any]]:
        """Each step's last outputs plus ``step_status``, failed steps included."""
        found: dict[str, dict[str, Any]] = {}
        for a in self.daemon.engine.store.step_attempts(run.id):
            found[a.step] = {**dict(a.outputs or {}), "step_status": a.status.value}
        return found


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed (with their group) at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def start_writer(
    db: Path, tmp: Path, processes: list[subprocess.Popen[bytes]], *flags: str
) -> subprocess.Popen[bytes]:
    ready = tmp / f"writer-{len(processes)}.pid"
    proc = subprocess.Popen(
        [sys.executable, WRITER, str(db), str(ready), *flags], start_new_session=True
    )
    processes.append(proc)
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, f"stuck writer exited with {proc.returncode}"
        assert time.monotonic() < deadline, "stuck writer never took its lock"
        time.sleep(0.02)
    return proc


@asynccontextmanager
async def stack(
    tmp_path: Path,
    database_url: str,
    *,
    allow: list[str],
    mode: str = "execute",
    governance: dict[str, Any] | None = None,
    journal: str = "delete",
) -> AsyncIterator[Stack]:
    """grace serve (execute mode) supervising the vector service and tailing its log."""
    port = free_port()
    db = tmp_path / "vectors" / "index.db"
    db.parent.mkdir()
    data_dir, log_dir = tmp_path / ".grace", tmp_path / "logs"
    (tmp_path / "playbooks").mkdir()
    settings = Settings(
        data_dir=data_dir,
        log_dir=log_dir,
        database_url=database_url,
        playbook_dirs=[tmp_path / "playbooks"],
        bundled_playbooks=True,
        mode=mode,
        listen=f"127.0.0.1:{free_port()}",
        services=[
            {
                "name": "vectors",
                "argv": [sys.executable, SERVICE, str(port), str(db), "--journal", journal],
            }
        ],
        sources=[
            {
                "type": "log",
                "path": str(log_dir / "services" / "vectors.log"),
                "service": "vectors",
                "poll_interval_s": 0.05,
            }
        ],
        config={
            "faiss_lock_recovery": {
                "service": "vectors",
                "health_url": f"http://127.0.0.1:{port}/api/vectors/health",
                "allow_cmdline": allow,
            }
        },
        governance={"change_windows": {"enabled": False}, **(governance or {})},
    )
    daemon = Daemon.create(settings)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            try:
                await eventually(
                    lambda: (h := health(port)) and h[0] == 200, within=30, what="vectors healthy"
                )
                yield Stack(daemon, port, db, tmp_path)
            finally:
                tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
        state = read_state(data_dir, "vectors")
        if state is not None and state.pid:
            with contextlib.suppress(OSError):
                os.killpg(state.pid, signal.SIGKILL)


async def recovered_run(s: Stack, *, within: float = 60) -> Run:
    (run,) = await eventually(s.finished, within=within, what="a faiss_lock_recovery run ends")
    assert isinstance(run, Run)
    return run


async def assert_healthy_and_intact(s: Stack) -> None:
    _, body = await eventually(
        lambda: (h := health(s.port)) and h[0] == 200 and h, within=20, what="health 200"
    )
    assert body == {"ok": True, "vectors": ROWS}
    rows, check = rows_and_integrity(s.db)
    assert (rows, check) == (ROWS, "ok")


@pytest.mark.postgres
async def test_a_stuck_writer_is_ended_gracefully_and_the_service_heals(
    tmp_path: Path, database_url: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    """SIGTERM ends the allow-listed writer; the backup is a verified copy; health is 200."""
    async with stack(tmp_path, database_url, allow=[r"stuck_writer\.py"]) as s:
        writer = start_writer(s.db, tmp_path, processes)
        assert await anyio.to_thread.run_sync(lambda: health(s.port)) == LOCKED
        run = await recovered_run(s)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert writer.wait(timeout=10) == -signal.SIGTERM
        await assert_healthy_and_intact(s)
        steps = s.outputs(run)
    assert run.captures.get("path") == str(s.db)
    assert run.event["service"] == "vectors"
    (holder,) = [h for h in steps["holders"]["holders"] if h["pid"] == writer.pid]
    assert (holder["locks"], holder["writes"]) == (["exclusive"], True)
    # A stuck EXCLUSIVE lock shuts the online backup API out: the copy path ran, and the copy
    # (its uncommitted INSERT rolled back) is a good database with every row.
    assert steps["backup"]["method"] == "copy"
    backup = Path(steps["backup"]["backup_path"])
    assert rows_and_integrity(backup) == (ROWS, "ok")
    assert steps["unlock"]["terminated"] == [writer.pid]
    assert steps["unlock"]["locked"] is False
    assert steps["restart"]["pid"] != steps["restart"]["previous_pid"]
    assert steps["force_unlock"]["step_status"] == "skipped"
    assert steps["integrity"]["status"] == "ok"
    assert steps["restore"]["step_status"] == "skipped"


async def test_wal_mode_the_backup_is_online_and_the_writer_ended(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """WAL mode: the stuck writer holds the WAL write lock (readers still read), so the
    online backup API works; the writer is ended and the service heals."""
    url = f"sqlite:///{tmp_path / 'grace.db'}"
    async with stack(tmp_path, url, allow=[r"stuck_writer\.py"], journal="wal") as s:
        writer = start_writer(s.db, tmp_path, processes)
        run = await recovered_run(s)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert writer.wait(timeout=10) == -signal.SIGTERM
        await assert_healthy_and_intact(s)
        steps = s.outputs(run)
    (holder,) = [h for h in steps["holders"]["holders"] if h["pid"] == writer.pid]
    assert "wal_write" in holder["locks"]
    assert steps["backup"]["method"] == "online"
    assert rows_and_integrity(Path(steps["backup"]["backup_path"])) == (ROWS, "ok")
    assert steps["unlock"]["terminated"] == [writer.pid]


async def test_a_writer_that_ignores_sigterm_is_force_killed(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Graceful unlock fails (SIGTERM ignored); health stays 503; force_unlock SIGKILLs it."""
    url = f"sqlite:///{tmp_path / 'grace.db'}"
    async with stack(tmp_path, url, allow=[r"stuck_writer\.py"]) as s:
        writer = start_writer(s.db, tmp_path, processes, "--ignore-term")
        run = await recovered_run(s)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert writer.wait(timeout=10) == -signal.SIGKILL
        await assert_healthy_and_intact(s)
        steps = s.outputs(run)
    assert steps["unlock"]["step_status"] == "failed"
    assert steps["unlock"]["survivors"] == [writer.pid]
    assert steps["health"]["step_status"] == "failed"
    assert steps["force_unlock"]["killed"] == [writer.pid]
    assert steps["force_unlock"]["locked"] is False


async def test_a_database_damaged_by_its_dying_writer_is_restored_from_the_backup(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """The writer scribbles over a page as SIGTERM ends it (after the backup): integrity_check
    fails, the service is stopped, the backup put back, the service started: healthy, all rows."""
    url = f"sqlite:///{tmp_path / 'grace.db'}"
    async with stack(tmp_path, url, allow=[r"stuck_writer\.py"]) as s:
        writer = start_writer(s.db, tmp_path, processes, "--corrupt-on-term")
        run = await recovered_run(s, within=90)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert writer.wait(timeout=10) == 143  # it exited after writing its garbage
        await assert_healthy_and_intact(s)
        steps = s.outputs(run)
    assert steps["integrity"]["status"] == "corrupt"
    assert steps["integrity"]["errors"]
    assert steps["stop_for_restore"]["status"] == "stopped"
    assert steps["restore"]["restored_from"] == steps["backup"]["backup_path"]
    # The damaged file was kept (pre-restore copy) and really is damaged.
    damaged = Path(steps["restore"]["backup_path"])
    assert damaged.name.endswith(".pre-restore.bak")
    conn = sqlite3.connect(f"file:{quote(str(damaged))}?mode=ro&immutable=1", uri=True)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            conn.execute("SELECT count(*) FROM vectors").fetchall()
    finally:
        conn.close()
    assert steps["start_after_restore"]["status"] == "running"
    assert steps["verify"]["step_status"] == "succeeded"


async def test_a_holder_outside_the_allow_list_is_left_alone_and_escalated(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Nothing is killed; 3 runs fail; the next "database is locked" line escalates: the
    circuit opens and one ticket is filed."""
    url = f"sqlite:///{tmp_path / 'grace.db'}"
    fast = {"dedupe_window": 0, "cooldown": 0}
    async with stack(tmp_path, url, allow=[r"some_other_tool\.py"], governance=fast) as s:
        writer = start_writer(s.db, tmp_path, processes)
        store = s.daemon.engine.store

        def escalated() -> list[Any]:
            return [t for t in store.list_tickets() if "faiss_lock_recovery" in t.title]

        (ticket,) = await eventually(escalated, within=100, what="an escalation ticket")
        runs = s.runs()
        assert writer.poll() is None  # still alive: never signalled
        assert await anyio.to_thread.run_sync(lambda: health(s.port)) == LOCKED
        first = s.outputs(runs[-1])
    assert len(runs) == 3
    assert all(r.status.value in FINAL and r.status is not RunStatus.SUCCEEDED for r in runs)
    (refused,) = [r for r in first["unlock"]["refused"] if r["pid"] == writer.pid]
    assert "allow-list" in refused["reason"]
    assert first["unlock"]["terminated"] == []
    assert first["force_unlock"]["killed"] == []
    assert first["integrity"]["status"] == "busy"
    assert first["restore"]["step_status"] == "skipped"
    assert first["recheck"]["step_status"] == "skipped"  # nothing changed: the short check
    assert first["recheck_unchanged"]["step_status"] == "failed"
    assert ticket.service == "vectors"


async def test_observe_mode_proposes_and_touches_nothing(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """In observe mode the lock becomes a proposed run; the writer lives, the service is 503."""
    url = f"sqlite:///{tmp_path / 'grace.db'}"
    async with stack(tmp_path, url, allow=[r"stuck_writer\.py"], mode="observe") as s:
        writer = start_writer(s.db, tmp_path, processes)
        (run,) = await eventually(s.runs, within=30, what="a proposed run")
        await anyio.sleep(1.0)  # give a wrongly executing run the time to act
        assert s.daemon.engine.store.get_run(run.id).status is RunStatus.PROPOSED
        assert writer.poll() is None
        assert await anyio.to_thread.run_sync(lambda: health(s.port)) == LOCKED
        assert s.daemon.engine.store.step_attempts(run.id) == []


async def test_a_lock_reported_by_another_service_is_not_this_configurations(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """The configuration names service 'vectors': a "database is locked" event from 'miner'
    is blocked by the playbook's condition (the governor refuses it: no run at all), so even
    an allow-listed holder of the configured database is left alone."""
    from datetime import UTC, datetime

    from grace.engine import Engine, RunRefused
    from grace.events import Event

    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE vectors (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    writer = start_writer(db, tmp_path, processes)
    settings = Settings(
        data_dir=tmp_path / ".grace",
        log_dir=tmp_path / "logs",
        database_url=f"sqlite:///{tmp_path / 'grace.db'}",
        bundled_playbooks=True,
        mode="execute",
        governance={"change_windows": {"enabled": False}},
        config={
            "faiss_lock_recovery": {
                "service": "vectors",
                "db_path": str(db),
                "health_url": "http://127.0.0.1:9/api/vectors/health",
                "allow_cmdline": [r"stuck_writer\.py"],
            }
        },
    )
    engine = Engine(settings)
    try:
        event = Event(
            id="evt_other_service",
            time=datetime.now(UTC),
            source="log:/var/log/miner.log",
            kind="log",
            service="miner",
            message="ERROR miner: database is locked",
        )
        with pytest.raises(RunRefused, match="reported by another service"):
            await engine.execute("faiss_lock_recovery", event=event)
        runs = engine.store.list_runs(playbook="faiss_lock_recovery")
    finally:
        engine.close()
    assert runs == []
    assert writer.poll() is None
