"""The blocking work behind the ``db.*`` actions: who holds a SQLite file, checks, copies.

Everything here blocks; the actions call it through ``anyio.to_thread.run_sync``.

How a SQLite database is "locked": a connection in a write transaction holds POSIX advisory
locks (``fcntl``) on the database file (rollback-journal mode: RESERVED, PENDING, then
EXCLUSIVE, which also shuts readers out) or on its ``-shm`` file (WAL mode: the WAL write lock
at byte 120; readers keep reading). Linux lists those locks in ``/proc/locks`` with the owning
pid, so :func:`find_holders` can say which process holds *which* lock, not only which ones
have the file open. When that process ends, the kernel drops its locks; SQLite rolls a hot
journal back (or replays the WAL) on the next open, so the file stays consistent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from grace.errors import ActionError

__all__ = (
    "SIDECARS",
    "Check",
    "Holder",
    "check_integrity",
    "consistent_copy",
    "find_holders",
    "probe_write_lock",
    "sidecars",
    "wal_mode",
)

SIDECARS = ("-journal", "-wal", "-shm")
"""The files SQLite keeps next to a database (rollback journal, write-ahead log, WAL index)."""

# Byte offsets SQLite's unix VFS locks (sqliteInt.h / wal.c).
_PENDING = 0x40000000
_RESERVED = _PENDING + 1
_SHARED_FIRST = _PENDING + 2
_WAL_WRITE, _WAL_CKPT, _WAL_RECOVER = 120, 121, 122
WRITE_LOCKS = frozenset({"exclusive", "pending", "reserved", "wal_write", "wal_recover"})
"""Lock kinds that keep other connections from writing (what "database is locked" means)."""

LockKind = Literal[
    "exclusive", "pending", "reserved", "shared", "wal_write", "wal_checkpoint", "wal_recover",
    "wal_read", "other",
]  # fmt: skip


def sidecars(path: Path) -> list[Path]:
    """The database file and its sidecar files, existing or not."""
    return [path, *(path.with_name(path.name + s) for s in SIDECARS)]


@dataclass(frozen=True, slots=True)
class Holder:
    """One process that has the database (or a sidecar) open or locked."""

    pid: int
    name: str = ""
    cmdline: list[str] = field(default_factory=list)
    username: str = ""
    uid: int | None = None
    files: list[str] = field(default_factory=list)
    """Which of ``db``, ``journal``, ``wal``, ``shm`` it has open (or locked)."""
    locks: list[str] = field(default_factory=list)
    """SQLite locks it holds, strongest first (``exclusive``, ``wal_write``, ``shared``, …)."""
    service: str | None = None
    """The ``grace serve`` service this process is (or belongs to), if any."""
    wal: bool = False
    """The database is in WAL mode (readers never block writers there)."""

    @property
    def writes(self) -> bool:
        """True when it holds a lock that blocks other writers: a write lock, or, in
        rollback-journal mode, a read transaction's SHARED lock (a writer cannot commit
        while one is held, so a stuck reader locks the database too)."""
        if any(lock in WRITE_LOCKS for lock in self.locks):
            return True
        return not self.wal and "shared" in self.locks

    def to_json(self) -> dict[str, Any]:
        """JSON form for step outputs (``writes`` included)."""
        return {**asdict(self), "writes": self.writes}


def wal_mode(path: Path) -> bool:
    """True when the database file's header says WAL (format versions 2 at bytes 18-19)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(20)
    except OSError:
        return False
    return head.startswith(b"SQLite format 3\x00") and head[18:20] == b"\x02\x02"


def _label(suffix: str) -> str:
    return suffix.lstrip("-") or "db"


def _targets(path: Path) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    for suffix, candidate in zip(("", *SIDECARS), sidecars(path), strict=True):
        with contextlib.suppress(OSError):
            st = candidate.stat()
            found[(st.st_dev, st.st_ino)] = _label(suffix)
    return found


def _lock_kind(label: str, mode: str, start: int, end: int) -> LockKind:
    if label == "db":
        if start <= _SHARED_FIRST and end >= _SHARED_FIRST and mode == "WRITE":
            return "exclusive"
        if start <= _PENDING <= end and mode == "WRITE":
            return "pending"
        if start <= _RESERVED <= end and mode == "WRITE":
            return "reserved"
        if start >= _SHARED_FIRST:
            return "shared"
    if label == "shm":
        named: dict[int, LockKind] = {
            _WAL_WRITE: "wal_write",
            _WAL_CKPT: "wal_checkpoint",
            _WAL_RECOVER: "wal_recover",
        }
        if start in named and mode == "WRITE":
            return named[start]
        if start > _WAL_RECOVER:
            return "wal_read"
    return "other"


_ORDER: tuple[LockKind, ...] = (
    "exclusive", "pending", "reserved", "wal_write", "wal_recover", "wal_checkpoint", "shared",
    "wal_read", "other",
)  # fmt: skip


def _proc_locks(targets: dict[tuple[int, int], str]) -> dict[int, dict[str, set[LockKind]]]:
    """``pid -> {file label -> lock kinds}`` from ``/proc/locks`` (empty where it is missing)."""
    by_inode = {(os.major(dev), os.minor(dev), ino): label for (dev, ino), label in targets.items()}
    out: dict[int, dict[str, set[LockKind]]] = {}
    try:
        text = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        # "1: POSIX  ADVISORY  WRITE 12018 fe:00:2146503 1073741824 1073742335"
        if len(parts) < 8 or parts[1] != "POSIX":  # "->" lines are waiters, not holders
            continue
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
            start = int(parts[6])
            end = (1 << 63) if parts[7] == "EOF" else int(parts[7])
        except ValueError:
            continue
        label = by_inode.get(key)
        if label is None or pid <= 0:
            continue
        kind = _lock_kind(label, parts[3], start, end)
        out.setdefault(pid, {}).setdefault(label, set()).add(kind)
    return out


def _open_by(targets: dict[tuple[int, int], str]) -> dict[int, set[str]]:
    """``pid -> file labels`` it has open, from ``/proc/<pid>/fd`` (psutil elsewhere)."""
    out: dict[int, set[str]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for pid in psutil.pids():
            try:
                fds = os.listdir(proc / str(pid) / "fd")
            except OSError:  # gone, or another user's process
                continue
            for fd in fds:
                try:
                    st = os.stat(proc / str(pid) / "fd" / fd)
                except OSError:
                    continue
                label = targets.get((st.st_dev, st.st_ino))
                if label is not None:
                    out.setdefault(pid, set()).add(label)
        return out
    for p in psutil.process_iter():  # pragma: no cover - not Linux
        with contextlib.suppress(psutil.Error):
            for f in p.open_files():
                with contextlib.suppress(OSError):
                    st = os.stat(f.path)
                    label = targets.get((st.st_dev, st.st_ino))
                    if label is not None:
                        out.setdefault(p.pid, set()).add(label)
    return out


def _services(data_dir: Path | None) -> dict[int, str]:
    if data_dir is None:
        return {}
    from grace.supervisor import read_state

    found: dict[int, str] = {}
    for state_file in (data_dir / "services").glob("*.json"):
        state = read_state(data_dir, state_file.stem)
        if state is not None and state.pid and state.status in ("starting", "running", "stopping"):
            found[state.pid] = state.name
    return found


def find_holders(path: Path, *, data_dir: Path | None = None) -> list[Holder]:
    """Every process with ``path`` or a sidecar open or locked, lock holders first.

    ``data_dir``: Grace's data dir, to name the processes that are ``grace serve`` services
    (the service's pid or one of its children).
    """
    targets = _targets(path)
    if not targets:
        return []
    locks = _proc_locks(targets)
    opened = _open_by(targets)
    services = _services(data_dir)
    wal = wal_mode(path)
    holders: list[Holder] = []
    for pid in sorted(set(locks) | set(opened)):
        kinds = {k for per_file in locks.get(pid, {}).values() for k in per_file}
        files = sorted(opened.get(pid, set()) | set(locks.get(pid, {})))
        name, cmdline, username, uid = "", [], "", None
        service = services.get(pid)
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                name = p.name()
                username = p.username()
                uid = p.uids().real
                with contextlib.suppress(psutil.AccessDenied):
                    cmdline = p.cmdline()
                if service is None:
                    with contextlib.suppress(psutil.Error):
                        service = next(
                            (services[a.pid] for a in p.parents() if a.pid in services), None
                        )
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            pass
        holders.append(
            Holder(
                pid=pid,
                name=name,
                cmdline=cmdline,
                username=username,
                uid=uid,
                files=files,
                locks=[k for k in _ORDER if k in kinds],
                service=service,
                wal=wal,
            )
        )
    holders.sort(key=lambda h: (not h.writes, not h.locks, h.pid))
    return holders


def _ro_uri(path: Path, *, immutable: bool = False) -> str:
    from urllib.parse import quote

    extra = "&immutable=1" if immutable else ""
    return f"file:{quote(str(path))}?mode=ro{extra}"


def probe_write_lock(path: Path, *, busy_timeout_s: float) -> tuple[bool, str]:
    """``(locked, detail)``: can a connection start a write transaction on ``path`` now?

    ``BEGIN IMMEDIATE`` then ``ROLLBACK``: it takes the write lock for an instant and writes
    nothing. A missing file is never created (``mode=rw``); it counts as not locked.
    """
    from urllib.parse import quote

    if not path.exists():
        return False, "no such file"
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw", uri=True, timeout=busy_timeout_s,
            isolation_level=None, check_same_thread=False,
        )  # fmt: skip
    except sqlite3.Error as exc:
        return False, f"cannot open: {exc}"
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True, str(exc)
        return False, str(exc)
    except sqlite3.Error as exc:
        return False, str(exc)
    finally:
        conn.close()
    return False, "a write transaction could start"


Status = Literal["ok", "corrupt", "busy", "missing", "unreadable"]


@dataclass(frozen=True, slots=True)
class Check:
    """The result of :func:`check_integrity`."""

    status: Status
    errors: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when SQLite found nothing wrong."""
        return self.status == "ok"


_CORRUPT_HINTS = ("malformed", "not a database", "corrupt", "disk i/o error")


def _classify(exc: sqlite3.Error) -> Status:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "busy"
    if any(h in text for h in _CORRUPT_HINTS):
        return "corrupt"
    return "unreadable"


def check_integrity(
    path: Path,
    *,
    quick: bool = False,
    busy_timeout_s: float = 2.0,
    max_errors: int = 100,
    immutable: bool = False,
    recover: bool = True,
) -> Check:
    """``PRAGMA integrity_check`` (or ``quick_check``) on a read-only connection.

    ``immutable``: the file is a private copy nobody writes (a backup): SQLite takes no locks.
    ``recover``: when a hot journal left by a killed writer keeps a read-only connection from
    reading, open the file read-write once, which rolls the journal back (what any client's
    next open does), then check.
    """
    if not path.is_file():
        return Check("missing", detail=f"{path} does not exist")
    pragma = "quick_check" if quick else "integrity_check"
    for attempt in (1, 2):
        try:
            conn = sqlite3.connect(
                _ro_uri(path, immutable=immutable), uri=True, timeout=busy_timeout_s,
                check_same_thread=False,
            )  # fmt: skip
        except sqlite3.Error as exc:
            return Check(_classify(exc), [str(exc)], f"cannot open {path}: {exc}")
        try:
            rows = conn.execute(f"PRAGMA {pragma}({int(max_errors)})").fetchall()
        except sqlite3.Error as exc:
            status = _classify(exc)
            readonly = "readonly" in str(exc).lower() or "read-only" in str(exc).lower()
            if readonly and recover and attempt == 1:
                conn.close()
                _recover_journal(path, busy_timeout_s)
                continue
            return Check(status, [str(exc)], f"{pragma} on {path}: {exc}")
        finally:
            conn.close()
        errors = [str(r[0]) for r in rows]
        if errors == ["ok"]:
            return Check("ok", [], f"{pragma} on {path}: ok")
        return Check("corrupt", errors, f"{pragma} on {path}: {len(errors)} problem(s)")
    return Check("unreadable", [], f"{path}: a hot journal could not be rolled back")


def _recover_journal(path: Path, busy_timeout_s: float) -> None:
    from urllib.parse import quote

    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw", uri=True, timeout=busy_timeout_s,
            check_same_thread=False,
        )  # fmt: skip
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            conn.close()


def online_backup(path: Path, dest: Path, *, busy_timeout_s: float) -> None:
    """Copy ``path`` to ``dest`` with SQLite's online backup API (a consistent snapshot).

    Raises:
        sqlite3.Error: the source is locked (``database is locked``), corrupt or unreadable.
    """
    src = sqlite3.connect(
        _ro_uri(path), uri=True, timeout=busy_timeout_s, check_same_thread=False,
        isolation_level=None,
    )  # fmt: skip
    try:
        # Python's backup() retries a busy source forever: take the read lock first, under the
        # busy timeout, so a stuck writer makes this fail at once instead of hanging.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchall()
        dst = sqlite3.connect(dest, check_same_thread=False)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _signature(files: list[Path]) -> list[tuple[str, int, int] | None]:
    sig: list[tuple[str, int, int] | None] = []
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            sig.append(None)
            continue
        sig.append((f.name, st.st_size, st.st_mtime_ns))
    return sig


@contextlib.contextmanager
def private_dir(parent: Path) -> Iterator[Path]:
    """A ``0700`` scratch directory under ``parent``, removed afterwards."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".db-work-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def consistent_copy(path: Path, dest: Path, work: Path, *, tries: int = 3) -> None:
    """Copy a database whose lock shuts the backup API out, into one self-contained file.

    The database and its ``-journal``/``-wal`` are copied together and kept only when none of
    them changed during the copy (the lock holder is stuck, not writing); the copy is then
    opened read-write in ``work``, so SQLite rolls a hot journal back or replays the WAL
    exactly as it would for the real file, and the online backup API writes the result to
    ``dest``. An uncommitted transaction of the lock holder is not in the copy.

    Raises:
        ActionError: the files kept changing (``Unstable``), or the copy is unreadable.
    """
    files = sidecars(path)
    copies = [work / f"copy.db{s}" for s in ("", *SIDECARS)]
    for _ in range(tries):
        for c in copies:
            c.unlink(missing_ok=True)
        before = _signature(files)
        for src, dst in zip(files, copies, strict=True):
            if src.name.endswith("-shm"):
                continue  # rebuilt from the WAL on open
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(src, dst)
        if _signature(files) == before:
            break
    else:
        msg = (
            f"{path} kept changing while it was copied ({tries} tries): a process is writing "
            "to it, so a raw copy would be torn; retry once the writer is done"
        )
        raise ActionError(msg, retryable=True, type="Unstable")
    try:
        online_backup(copies[0], dest, busy_timeout_s=1.0)
    except sqlite3.Error:
        # mode=ro cannot roll a hot journal back: let a read-write open recover it first.
        _recover_journal(copies[0], 1.0)
        try:
            online_backup(copies[0], dest, busy_timeout_s=1.0)
        except sqlite3.Error as exc:
            msg = f"the copy of {path} cannot be read: {exc}"
            raise ActionError(msg, retryable=False, type="Corrupt") from exc
