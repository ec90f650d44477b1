"""The ``db.*`` actions on real SQLite files held by real processes (no mocks).

The playbook-level proof is tests/integration/library/test_faiss_lock_recovery.py; these
tests pin each action's rules: which lock a holder has, who may never be ended, what a
backup keeps, and what a restore refuses.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from grace.actions import ActionContext
from grace.actions.builtin.sqlite_db import (
    DbBackupParams,
    DbIntegrityParams,
    DbPathParams,
    DbRestoreParams,
    DbUnlockParams,
    backup_database,
    integrity_check,
    lock_holders,
    restore_database,
    unlock_database,
)
from grace.errors import ActionError
from grace.supervisor._state import ServiceState, write_state

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]

WRITER = str(
    Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "vectors" / "stuck_writer.py"
)


def make_db(path: Path, *, journal: str = "delete", rows: int = 50) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA journal_mode={journal}")
        conn.execute("CREATE TABLE vectors (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany(
            "INSERT INTO vectors VALUES (?, ?)", ((i, f"v{i}" * 20) for i in range(rows))
        )
    finally:
        conn.close()
    return path


def count(path: Path) -> int:
    conn = sqlite3.connect(path, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM vectors").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """Start stuck writers (optionally as another user); all killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        db: Path, *flags: str, user: int | None = None, python: str = sys.executable
    ) -> subprocess.Popen[bytes]:
        ready = db.parent / f"ready-{len(started)}"
        proc = subprocess.Popen(
            [python, WRITER, str(db), str(ready), *flags],
            start_new_session=True,
            user=user,
        )
        started.append(proc)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None, f"writer exited with {proc.returncode}"
            assert time.monotonic() < deadline, "writer never took its lock"
            time.sleep(0.02)
        return proc

    yield start
    for p in started:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


async def test_lock_holders_names_the_writer_and_its_lock(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    """Rollback journal: the writer holds EXCLUSIVE; an idle reader only has the file open."""
    db = make_db(tmp_path / "v.db")
    writer = spawn(db)  # type: ignore[operator]
    reader = sqlite3.connect(db)  # this test process: open, no lock
    try:
        result = await lock_holders(make_ctx(), DbPathParams(path=str(db)))
    finally:
        reader.close()
    out = result.outputs
    assert out["locked"] is True
    assert out["writers"] == [writer.pid]
    first, *rest = out["holders"]
    assert (first["pid"], first["locks"], first["writes"]) == (writer.pid, ["exclusive"], True)
    assert "db" in first["files"]
    assert [h["pid"] for h in rest] == [os.getpid()]
    assert rest[0]["locks"] == []


async def test_wal_mode_write_lock_is_seen_on_the_shm_file(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    """WAL: the writer holds the WAL write lock; readers (and the online backup) still work."""
    db = make_db(tmp_path / "w.db", journal="wal")
    writer = spawn(db)  # type: ignore[operator]
    ctx = make_ctx()
    out = (await lock_holders(ctx, DbPathParams(path=str(db)))).outputs
    (holder,) = [h for h in out["holders"] if h["pid"] == writer.pid]
    assert "wal_write" in holder["locks"]
    assert out["locked"] is True
    backup = await backup_database(ctx, DbBackupParams(path=str(db)))
    assert backup.outputs["method"] == "online"
    assert count(Path(backup.outputs["backup_path"])) == 50
    check = await integrity_check(ctx, DbIntegrityParams(path=str(db)))
    assert check.outputs["status"] == "ok"


async def test_unlock_ends_only_allowed_lockers_and_frees_the_file(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    """Not allow-listed: refused, still locked (the step fails); allowed: SIGTERM, writable."""
    db = make_db(tmp_path / "v.db")
    writer = spawn(db)  # type: ignore[operator]
    ctx = make_ctx()
    with pytest.raises(ActionError) as refused:
        await unlock_database(ctx, DbUnlockParams(path=str(db), allow_names=["nginx"]))
    assert refused.value.type == "StillLocked"
    (why,) = cast("list[dict[str, Any]]", refused.value.outputs["refused"])
    assert (why["pid"], why["reason"]) == (
        writer.pid,
        "not in the allow-list (allow_names / allow_cmdline)",
    )
    assert writer.poll() is None

    result = await unlock_database(
        ctx, DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"], grace_s=10)
    )
    assert result.outputs["terminated"] == [writer.pid]
    assert result.outputs["locked"] is False
    assert writer.wait(timeout=10) == -signal.SIGTERM
    # destructive: a consistent backup was taken before anything was signalled
    assert count(Path(result.outputs["backup_path"])) == 50
    assert count(db) == 50  # the uncommitted INSERT was rolled back, nothing else lost


async def test_force_unlock_kills_a_writer_that_ignores_sigterm(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    db = make_db(tmp_path / "v.db")
    writer = spawn(db, "--ignore-term")  # type: ignore[operator]
    allow = DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"], grace_s=0.5)
    with pytest.raises(ActionError) as graceful:
        await unlock_database(make_ctx(backup=False), allow)
    assert graceful.value.outputs["survivors"] == [writer.pid]
    forced = await unlock_database(make_ctx(backup=False), allow.model_copy(update={"force": True}))
    assert forced.outputs["killed"] == [writer.pid]
    assert writer.wait(timeout=10) == -signal.SIGKILL
    assert forced.outputs["locked"] is False


async def test_unlock_never_ends_a_grace_serve_service(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    """Even allow-listed, a supervised service is restarted through grace serve, not killed."""
    db = make_db(tmp_path / "v.db")
    ctx = make_ctx()
    service = spawn(db)  # type: ignore[operator]
    write_state(ctx.data_dir, ServiceState(name="vectors", status="running", pid=service.pid))
    params = DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"], target="openers")
    with pytest.raises(ActionError) as err:
        await unlock_database(ctx, params)
    (why,) = cast("list[dict[str, Any]]", err.value.outputs["refused"])
    assert "grace serve service 'vectors'" in why["reason"]
    assert service.poll() is None


async def test_unlock_never_ends_another_users_process(make_ctx: MakeCtx, spawn: object) -> None:
    """Even allow-listed, another user's process is not Grace's to end."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if os.getuid() != 0 or system_python is None:
        pytest.skip("needs root and a system python3 to start a process as 'nobody'")
    nobody = pwd.getpwnam("nobody")
    shared = Path(tempfile.mkdtemp(prefix="grace-db-other-"))  # pytest's tmp is 0700: root only
    try:
        os.chmod(shared, 0o777)
        db = make_db(shared / "v.db")
        os.chmod(db, 0o666)
        other = spawn(db, user=nobody.pw_uid, python=system_python)  # type: ignore[operator]
        params = DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"], grace_s=0.5)
        with pytest.raises(ActionError) as err:
            await unlock_database(make_ctx(), params)
        (why,) = cast("list[dict[str, Any]]", err.value.outputs["refused"])
        assert (why["pid"], why["reason"]) == (other.pid, "another user's process (nobody)")
        assert other.poll() is None
    finally:
        shutil.rmtree(shared, ignore_errors=True)


async def test_backup_on_busy_skip_fail_and_copy(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    db = make_db(tmp_path / "v.db")
    spawn(db)  # type: ignore[operator]
    ctx = make_ctx()
    skipped = await backup_database(
        ctx, DbBackupParams(path=str(db), on_busy="skip", busy_timeout_s=0.2)
    )
    assert (skipped.outputs["method"], skipped.outputs["backup_path"]) == ("skipped", None)
    assert "locked" in skipped.outputs["reason"]
    with pytest.raises(ActionError, match="on_busy: fail"):
        await backup_database(ctx, DbBackupParams(path=str(db), on_busy="fail", busy_timeout_s=0.2))
    copied = await backup_database(ctx, DbBackupParams(path=str(db), busy_timeout_s=0.2))
    assert copied.outputs["method"] == "copy"
    path = Path(copied.outputs["backup_path"])
    assert count(path) == 50
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)


def corrupt(db: Path) -> None:
    """Overwrite the vectors table's root page with garbage."""
    conn = sqlite3.connect(db)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='vectors'").fetchone()[0]
    finally:
        conn.close()
    with db.open("r+b") as fh:
        fh.seek((root - 1) * size)
        fh.write(bytes((i * 7 + 3) % 256 for i in range(size)))


async def test_integrity_check_and_a_restore_that_skips_damaged_backups(
    tmp_path: Path, make_ctx: MakeCtx
) -> None:
    """A damaged file is never kept as a backup; restore takes the newest good one, keeps the
    damaged file as a pre-restore copy, and removes a stale journal that would undo it."""
    db = make_db(tmp_path / "v.db")
    ctx = make_ctx()
    good = await backup_database(ctx, DbBackupParams(path=str(db)))
    corrupt(db)
    check = await integrity_check(ctx, DbIntegrityParams(path=str(db)))
    assert check.outputs["status"] == "corrupt"
    assert check.outputs["ok"] is False
    with pytest.raises(ActionError) as failing:
        await integrity_check(ctx, DbIntegrityParams(path=str(db), fail_on_corrupt=True))
    assert failing.value.type == "Corrupt"
    with pytest.raises(ActionError, match="fails integrity_check"):
        await backup_database(ctx, DbBackupParams(path=str(db)))

    journal = db.with_name(db.name + "-journal")
    journal.write_bytes(b"stale")
    holder = sqlite3.connect(db)
    with pytest.raises(ActionError) as busy:
        await restore_database(ctx, DbRestoreParams(path=str(db)))
    assert busy.value.type == "InUse"
    holder.close()

    restored = await restore_database(ctx, DbRestoreParams(path=str(db)))
    assert restored.outputs["restored_from"] == good.outputs["backup_path"]
    assert restored.outputs["sidecars_removed"] == ["v.db-journal"]
    assert not journal.exists()
    assert count(db) == 50
    pre = Path(restored.outputs["backup_path"])
    assert pre.name.endswith(".pre-restore.bak")
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        count(pre)


async def test_restore_rejects_a_damaged_backup_and_says_so(
    tmp_path: Path, make_ctx: MakeCtx
) -> None:
    db = make_db(tmp_path / "v.db")
    ctx = make_ctx()
    first = await backup_database(ctx, DbBackupParams(path=str(db)))
    second = await backup_database(ctx, DbBackupParams(path=str(db)))
    corrupt(Path(second.outputs["backup_path"]))  # damaged in the store (bit rot, a bad disk)
    restored = await restore_database(ctx, DbRestoreParams(path=str(db)))
    assert restored.outputs["restored_from"] == first.outputs["backup_path"]
    (rejected,) = restored.outputs["rejected"]
    assert rejected["backup"] == second.outputs["backup_path"]


async def test_a_stuck_reader_blocks_writers_in_rollback_mode_and_is_a_locker(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    """Rollback journal: a read transaction's SHARED lock keeps writers from committing, so
    the reader counts as a lock holder; in WAL mode the same reader blocks nobody."""
    db = make_db(tmp_path / "v.db")
    reader = spawn(db, "--reader")  # type: ignore[operator]
    ctx = make_ctx(backup=False)
    writer = sqlite3.connect(db, timeout=0.2, isolation_level=None)
    try:
        writer.execute("BEGIN")
        writer.execute("INSERT INTO vectors VALUES (1000, 'x')")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writer.execute("COMMIT")
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    out = (await lock_holders(ctx, DbPathParams(path=str(db)))).outputs
    assert out["writers"] == [reader.pid]
    result = await unlock_database(
        ctx, DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"])
    )
    assert result.outputs["terminated"] == [reader.pid]

    wal = make_db(tmp_path / "w.db", journal="wal")
    wal_reader = spawn(wal, "--reader")  # type: ignore[operator]
    out = (await lock_holders(ctx, DbPathParams(path=str(wal)))).outputs
    (holder,) = [h for h in out["holders"] if h["pid"] == wal_reader.pid]
    assert holder["writes"] is False
    assert out["locked"] is False


async def test_dry_run_signals_nothing_and_writes_nothing(
    tmp_path: Path, make_ctx: MakeCtx, spawn: object
) -> None:
    db = make_db(tmp_path / "v.db")
    ctx = make_ctx()
    await backup_database(ctx, DbBackupParams(path=str(db)))
    writer = spawn(db)  # type: ignore[operator]
    dry = make_ctx(dry_run=True)
    result = await unlock_database(
        dry, DbUnlockParams(path=str(db), allow_cmdline=[r"stuck_writer\.py"], force=True)
    )
    assert result.outputs["chosen"] == [writer.pid]
    assert result.outputs["terminated"] == result.outputs["killed"] == []
    assert result.summary.startswith("dry run: would end")
    assert writer.poll() is None
    skipped = await backup_database(dry, DbBackupParams(path=str(db)))
    assert skipped.outputs["method"] == "skipped"
    os.killpg(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    before = db.read_bytes()
    restored = await restore_database(dry, DbRestoreParams(path=str(db)))
    assert restored.changed is False
    assert db.read_bytes() == before
