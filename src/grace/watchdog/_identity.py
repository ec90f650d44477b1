"""Who is running: one record and one lock per role (``serve``, ``watchdog``) in the data dir.

``<data_dir>/watchdog/<role>.json`` holds the process's identity (pid and create time, as the
supervisor records a service's) and how it was started (argv, cwd, config file), so the peer
can start it the same way again. ``<data_dir>/watchdog/<role>.lock`` is held with ``flock``
for the process's whole life: the kernel drops it when the process dies, even by SIGKILL, so
a second copy cannot start while the first lives, whoever starts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil

from grace.errors import GraceError

__all__ = (
    "AlreadyRunning",
    "Liveness",
    "ProcessRecord",
    "Role",
    "RoleLock",
    "launch_argv",
    "liveness",
    "read_record",
    "record_path",
    "stop_recorded",
    "wait_until",
)

Role = Literal["serve", "watchdog"]
"""The two processes that watch each other."""

Liveness = Literal["running", "stopped", "dead"]
"""``running``: the recorded process lives. ``stopped``: it lives but is frozen (SIGSTOP, a
debugger). ``dead``: gone, a zombie, or the pid now belongs to another process."""


class AlreadyRunning(GraceError):
    """Another live process holds this role for this data dir."""

    exit_code = 75  # EX_TEMPFAIL: the peer that started us sees "someone else is it"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class ProcessRecord:
    """What ``<role>.json`` holds."""

    role: str
    pid: int
    create_time: float
    """psutil's create time: with the pid, the process's identity (pids are reused)."""
    argv: list[str] | None = None
    """How it was started (None: not from the command line, e.g. a test's in-process daemon)."""
    cwd: str = ""
    config_file: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    stopped_at: str | None = None
    """Set when it stopped on request (SIGTERM, Ctrl-C): its peer then leaves it stopped."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def record_path(data_dir: Path, role: str) -> Path:
    """``<data_dir>/watchdog/<role>.json``."""
    return data_dir / "watchdog" / f"{role}.json"


def read_record(data_dir: Path, role: str) -> ProcessRecord | None:
    """The recorded process of ``role`` (None: none, or unreadable)."""
    try:
        raw = json.loads(record_path(data_dir, role).read_text(encoding="utf-8"))
        return ProcessRecord(
            **{k: v for k, v in raw.items() if k in ProcessRecord.__dataclass_fields__}
        )
    except (OSError, ValueError, TypeError):
        return None


def liveness(record: ProcessRecord | None) -> Liveness:
    """Is the recorded process still that process, and is it running?"""
    if record is None:
        return "dead"
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) >= 0.01:
            return "dead"
        status = proc.status()
    except psutil.Error:
        return "dead"
    if status == psutil.STATUS_ZOMBIE:
        return "dead"
    if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
        return "stopped"
    return "running"


def stop_recorded(record: ProcessRecord, timeout_s: float) -> str:
    """Stop a (hung) recorded process: SIGCONT, SIGTERM, then SIGKILL after ``timeout_s``.

    SIGCONT first: a frozen process does not act on SIGTERM until it is continued. Returns
    how it ended (``already gone``, ``exited on SIGTERM``, ``killed``).
    """
    if liveness(record) == "dead":
        return "already gone"
    try:
        proc = psutil.Process(record.pid)
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            proc.kill()
            proc.wait(timeout_s)
        return "killed (SIGKILL)"
    except psutil.NoSuchProcess:
        return "already gone"
    except psutil.Error as exc:
        return f"could not stop: {exc}"
    return "exited on SIGTERM"


class RoleLock:
    """This process holds ``role`` for ``data_dir``: a lock plus the record, until released."""

    def __init__(self, data_dir: Path, role: Role) -> None:
        self.data_dir = data_dir
        self.role = role
        self._fd: int | None = None

    def acquire(self, *, argv: list[str] | None, config_file: str | None) -> ProcessRecord:
        """Take the role, or raise :class:`AlreadyRunning` naming the live holder."""
        path = record_path(self.data_dir, self.role)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_record(self.data_dir, self.role)
            who = f"pid {holder.pid}" if holder is not None else "another process"
            msg = f"grace {self.role} already runs for data dir {self.data_dir} ({who})"
            raise AlreadyRunning(
                msg, hint=f"stop it first, or give this one another --data-dir than {self.data_dir}"
            ) from None
        self._fd = fd
        me = psutil.Process()
        record = ProcessRecord(
            role=self.role,
            pid=me.pid,
            create_time=me.create_time(),
            argv=argv,
            cwd=os.getcwd(),
            config_file=config_file,
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return record

    def release(self, *, requested: bool = False) -> None:
        """Give the role up. The record stays: it says how to start this role again, and
        its identity no longer matches a live process. ``requested``: the process was asked
        to stop (SIGTERM, Ctrl-C), so the peer must not start it again on its own."""
        if self._fd is None:
            return
        mine = read_record(self.data_dir, self.role)
        if requested and mine is not None and mine.pid == os.getpid():
            mine.stopped_at = datetime.now(UTC).isoformat()
            path = record_path(self.data_dir, self.role)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(mine.to_json(), indent=1), encoding="utf-8")
            os.replace(tmp, path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def launch_argv() -> list[str]:
    """How this process was started, replayable: ``[python, -m, grace, …]`` or the script."""
    return [sys.executable, *sys.orig_argv[1:]]


def wait_until(check: Any, *, timeout_s: float, every_s: float = 0.05) -> bool:
    """Call ``check`` until it is true or ``timeout_s`` passed (used by the stop/start paths)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)
