"""``db.*``: recover a SQLite database stuck on "database is locked" (faiss_lock_recovery).

- ``db.lock_holders``: the processes with the file (or its ``-wal``/``-shm``/``-journal``)
  open, and which SQLite lock each holds (from ``/proc/locks``).
- ``db.unlock``: end the processes holding a write lock, but only those the caller allows by
  name or command line; never Grace, its parents, pid 1, another user's process, or a
  ``grace serve`` service (restart those with ``service.restart``). SIGTERM, then SIGKILL
  after the grace period when ``force`` is on.
- ``db.integrity_check``: ``PRAGMA integrity_check`` on a read-only connection.
- ``db.backup``: a consistent copy into Grace's backup store (the ``file.backup`` slots):
  the online backup API, or, when a stuck writer's lock shuts it out, a raw copy of the file
  and its journal/WAL recovered the way SQLite would. Corrupt copies are never kept.
- ``db.restore``: the newest backup that passes ``integrity_check``, put back atomically
  after the current file and its sidecars are backed up; refused while a process has it open.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import psutil
from pydantic import AfterValidator, Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath, Seconds
from grace.actions.builtin._sqlite_ops import (
    Holder,
    check_integrity,
    consistent_copy,
    find_holders,
    online_backup,
    private_dir,
    probe_write_lock,
    sidecars,
)
from grace.actions.builtin.backups import backup_slot, list_backups, take_backup
from grace.errors import ActionError

__all__ = (
    "DbBackupParams",
    "DbIntegrityParams",
    "DbPathParams",
    "DbRestoreParams",
    "DbUnlockParams",
    "backup_database",
    "integrity_check",
    "lock_holders",
    "restore_database",
    "unlock_database",
)


class DbPathParams(BuiltinParams):
    """Parameters of ``db.lock_holders`` (and the base of the other ``db.*`` actions)."""

    path: FilePath
    """The SQLite database file; its ``-journal``, ``-wal`` and ``-shm`` files are included."""


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        msg = f"invalid regex {value!r}: {exc}"
        raise ValueError(msg) from None
    return value


Pattern = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_check_regex)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class DbUnlockParams(DbPathParams):
    """Parameters of ``db.unlock``."""

    allow_names: list[Name] = Field(default_factory=list, max_length=50)
    """Process names (exactly as ``ps -o comm``/psutil reports them) that may be ended."""
    allow_cmdline: list[Pattern] = Field(default_factory=list, max_length=50)
    """Regexes searched in the space-joined command line; a match allows ending the process.
    With neither list, nothing is ended: the step only reports who holds the lock."""
    target: Literal["lockers", "openers"] = "lockers"
    """``lockers``: only processes holding a write lock on the file (the culprits of
    "database is locked"); ``openers``: every process with the file open."""
    force: bool = False
    """SIGKILL what is still alive after ``grace_s`` (it loses its uncommitted transaction)."""
    grace_s: Seconds = Field(default=5.0, ge=0, le=300)
    """How long to wait after SIGTERM."""
    busy_timeout_s: Seconds = Field(default=1.0, ge=0, le=60)
    """How long the final probe waits for a write lock before calling the file still locked."""


class DbIntegrityParams(DbPathParams):
    """Parameters of ``db.integrity_check``."""

    quick: bool = False
    """``PRAGMA quick_check`` (no index cross-check; much faster on big files)."""
    busy_timeout_s: Seconds = Field(default=2.0, ge=0, le=300)
    """How long to wait for a read lock; still locked after it → status ``busy``."""
    max_errors: int = Field(default=100, ge=1, le=10_000)
    """At most this many problems are listed."""
    fail_on_corrupt: bool = False
    """Fail the step when the file is corrupt, unreadable, locked or missing (a verification);
    otherwise the step succeeds and ``status`` says what was found."""


class DbBackupParams(DbPathParams):
    """Parameters of ``db.backup``."""

    on_busy: Literal["copy", "skip", "fail"] = "copy"
    """When a lock shuts the online backup out: ``copy`` the file and its journal/WAL (kept
    only if they did not change meanwhile and the copy passes integrity_check), ``skip`` (the
    step succeeds, ``method: skipped`` with the reason), or ``fail``."""
    busy_timeout_s: Seconds = Field(default=2.0, ge=0, le=300)
    """How long the online backup waits for a read lock."""


class DbRestoreParams(DbPathParams):
    """Parameters of ``db.restore``."""

    backup: FilePath | None = None
    """A backup's file name or path (``db.backup``'s ``backup_path``); None = the newest
    backup that passes ``integrity_check``."""


def _holders_summary(holders: list[Holder]) -> str:
    if not holders:
        return "nobody"
    shown = []
    for h in holders[:5]:
        lock = f" {'/'.join(h.locks)}" if h.locks else ""
        svc = f" service {h.service}" if h.service else ""
        shown.append(f"{h.name or '?'}[{h.pid}]{lock}{svc}")
    more = f" and {len(holders) - 5} more" if len(holders) > 5 else ""
    return ", ".join(shown) + more


@action(
    "db.lock_holders",
    params=DbPathParams,
    risk="low",
    idempotent=True,
    outputs=("path", "holders", "pids", "writers", "locked", "detail"),
    describe=lambda p: f"would list the processes holding {p.path} (and its -wal/-shm/-journal)",
)
async def lock_holders(ctx: ActionContext, params: DbPathParams) -> ActionResult:
    """List the processes with a SQLite file open, and which lock each of them holds."""
    path = target_path(params.path)

    def look() -> tuple[list[Holder], bool, str]:
        holders = find_holders(path, data_dir=ctx.data_dir)
        locked, detail = probe_write_lock(path, busy_timeout_s=0.2)
        return holders, locked, detail

    holders, locked, detail = await anyio.to_thread.run_sync(look)
    writers = [h.pid for h in holders if h.writes]
    state = "locked" if locked else "not locked"
    return ActionResult(
        ok=True,
        summary=f"{path} is {state}; held by {_holders_summary(holders)}",
        outputs={
            "path": str(path),
            "holders": [h.to_json() for h in holders],
            "pids": [h.pid for h in holders],
            "writers": writers,
            "locked": locked,
            "detail": detail,
        },
        changed=False,
    )


def _protected() -> set[int]:
    own = {os.getpid(), 1, 0}
    with contextlib.suppress(psutil.Error):
        own.update(p.pid for p in psutil.Process().parents())
    return own


def _refusal(h: Holder, params: DbUnlockParams, protected: set[int]) -> str | None:
    """Why ``h`` must not be ended, or None when it may be."""
    if h.pid in protected:
        return "Grace itself, one of its parents, or pid 1"
    if h.uid is None or h.uid != os.getuid():
        return f"another user's process ({h.username or 'unknown user'})"
    if h.service:
        return f"the grace serve service {h.service!r}: restart it with service.restart instead"
    if h.name and h.name in params.allow_names:
        return None
    line = " ".join(h.cmdline)
    if line and any(re.search(p, line) for p in params.allow_cmdline):
        return None
    return "not in the allow-list (allow_names / allow_cmdline)"


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process ended (a zombie counts as ended: its locks are gone); the
    survivors. Never ``waitpid``: reaping is the parent's business, not Grace's."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _running(p)]
    return alive


def _end(
    procs: list[psutil.Process], *, force: bool, grace_s: float
) -> tuple[list[int], list[int], list[int]]:
    """SIGTERM ``procs``; SIGKILL survivors when ``force``. ``(ended by SIGTERM, killed, alive)``."""
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGTERM)  # psutil refuses a pid reused since it was found
    alive = _wait_gone(procs, grace_s)
    by_term = [p.pid for p in procs if p not in alive]
    killed: list[int] = []
    if force and alive:
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
                killed.append(p.pid)
        alive = _wait_gone(alive, 10.0)
    return by_term, killed, [p.pid for p in alive]


def _describe_unlock(p: DbUnlockParams) -> str:
    allowed = [*p.allow_names, *(f"/{r}/" for r in p.allow_cmdline)] or ["nobody"]
    how = (
        f"SIGTERM, then SIGKILL after {p.grace_s:g}s"
        if p.force
        else f"SIGTERM (wait {p.grace_s:g}s)"
    )
    who = "holding a write lock on" if p.target == "lockers" else "with open"
    return f"would end the processes {who} {p.path} that match {', '.join(allowed)} ({how})"


@action(
    "db.unlock",
    params=DbUnlockParams,
    risk="high",
    idempotent=True,
    destructive=True,
    outputs=(
        "chosen",
        "terminated",
        "killed",
        "refused",
        "survivors",
        "locked",
        "holders",
        "backup_path",
        "backup_note",
    ),
    describe=_describe_unlock,
)
async def unlock_database(ctx: ActionContext, params: DbUnlockParams) -> ActionResult:
    """End the allowed processes that hold a SQLite file's write lock; fail while it stays locked."""
    path = target_path(params.path)
    holders = await anyio.to_thread.run_sync(lambda: find_holders(path, data_dir=ctx.data_dir))
    writers = [h for h in holders if h.writes]
    candidates = writers if params.target == "lockers" else list(holders)
    protected = _protected()
    refused: list[dict[str, Any]] = []
    chosen: list[psutil.Process] = []
    for h in candidates:
        reason = _refusal(h, params, protected)
        if reason is not None:
            refused.append({"pid": h.pid, "name": h.name, "reason": reason})
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            chosen.append(psutil.Process(h.pid))
    outputs: dict[str, Any] = {
        "chosen": [p.pid for p in chosen],
        "terminated": [],
        "killed": [],
        "refused": refused,
        "survivors": [],
        "locked": None,
        "holders": [h.to_json() for h in holders],
        "backup_path": None,
        "backup_note": "",
    }
    if ctx.dry_run:
        would = [p.pid for p in chosen]
        summary = f"dry run: would end {would or 'nothing'}"
        if refused:
            summary += f"; would refuse {[r['pid'] for r in refused]}"
        return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)
    if chosen and ctx.backup:
        # Ending a writer cannot change committed data, but a process may scribble as it dies:
        # keep a consistent copy from just before (db.backup's rules; a failure is recorded).
        try:
            result = await _backup(ctx, path, on_busy="copy", busy_timeout_s=1.0)
            outputs["backup_path"] = result["backup_path"]
            outputs["backup_note"] = result["reason"]
        except ActionError as exc:
            outputs["backup_note"] = f"no backup: {exc}"
    if chosen:
        terminated, killed, survivors = await anyio.to_thread.run_sync(
            lambda: _end(chosen, force=params.force, grace_s=params.grace_s)
        )
        outputs.update(terminated=terminated, killed=killed, survivors=survivors)
    locked, _ = await anyio.to_thread.run_sync(
        lambda: probe_write_lock(path, busy_timeout_s=params.busy_timeout_s)
    )
    outputs["locked"] = locked
    ended = [*outputs["terminated"], *outputs["killed"]]
    parts = [f"ended {ended}" if ended else "ended nothing"]
    if outputs["survivors"]:
        parts.append(
            f"still alive after SIGTERM: {outputs['survivors']} (force: true sends SIGKILL)"
        )
    if refused:
        parts.append(
            "refused "
            + ", ".join(f"{r['name'] or '?'}[{r['pid']}]: {r['reason']}" for r in refused)
        )
    parts.append(f"{path} is {'still locked' if locked else 'writable'}")
    summary = "; ".join(parts)
    if locked:
        if not candidates and not holders:
            summary += " (no holder visible: another user's or another host's process?)"
        raise ActionError(summary, retryable=True, type="StillLocked", outputs=outputs)
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=bool(ended))


@action(
    "db.integrity_check",
    params=DbIntegrityParams,
    risk="low",
    idempotent=True,
    outputs=("ok", "status", "errors", "detail"),
    describe=lambda p: (
        f"would run PRAGMA {'quick_check' if p.quick else 'integrity_check'} on {p.path} (read-only)"
    ),
)
async def integrity_check(ctx: ActionContext, params: DbIntegrityParams) -> ActionResult:
    """Check a SQLite file with ``PRAGMA integrity_check`` on a read-only connection."""
    path = target_path(params.path)
    check = await anyio.to_thread.run_sync(
        lambda: check_integrity(
            path,
            quick=params.quick,
            busy_timeout_s=params.busy_timeout_s,
            max_errors=params.max_errors,
        )
    )
    outputs: dict[str, object] = {
        "ok": check.ok,
        "status": check.status,
        "errors": check.errors,
        "detail": check.detail,
    }
    summary = check.detail
    if check.errors and not check.ok:
        summary += f": {check.errors[0]}"
    if params.fail_on_corrupt and not check.ok:
        kind = {"busy": "Busy", "missing": "FileNotFound"}.get(check.status, "Corrupt")
        raise ActionError(summary, retryable=check.status == "busy", type=kind, outputs=outputs)
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)


_BAK = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d+\.bak")
"""An ordinary backup's name in the slot (``file.backup``'s convention; not a pre-restore)."""
_NUMBER = re.compile(r"Z-(\d+)(?:\.pre-restore)?\.bak$")


def _store(ctx: ActionContext, path: Path, made: Path, stamp: str) -> Path:
    """Move the finished copy ``made`` into ``path``'s backup slot; prune old ordinary copies."""
    slot = backup_slot(ctx.data_dir, path)
    slot.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = list_backups(ctx.data_dir, path)
    numbers = (_NUMBER.search(p.name) for p in existing)
    n = 1 + max((int(m[1]) for m in numbers if m), default=0)
    while True:
        dest = slot / f"{stamp}-{n}.bak"
        try:
            os.link(made, dest)  # fails if taken: never overwrite a backup
        except FileExistsError:
            n += 1
            continue
        break
    os.chmod(dest, 0o600)
    ordinary = [p for p in list_backups(ctx.data_dir, path) if _BAK.fullmatch(p.name)]
    for old in ordinary[max(1, ctx.backup_keep) :]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return dest


async def _backup(
    ctx: ActionContext, path: Path, *, on_busy: str, busy_timeout_s: float
) -> dict[str, Any]:
    stamp = ctx.clock.now().strftime("%Y%m%dT%H%M%S.%fZ")

    def run() -> dict[str, Any]:
        if not path.is_file():
            msg = f"cannot back up {path}: no such file"
            raise ActionError(msg, retryable=False, type="FileNotFound")
        if ctx.dry_run:
            reason = "dry run: nothing written"
            return {"backup_path": None, "method": "skipped", "reason": reason, "bytes": 0}
        slot = backup_slot(ctx.data_dir, path)
        with private_dir(slot.parent) as work:
            made = work / "backup.db"
            method, reason = "online", "the online backup API"
            try:
                online_backup(path, made, busy_timeout_s=busy_timeout_s)
            except sqlite3.OperationalError as exc:
                if (
                    "locked" not in str(exc)
                    and "busy" not in str(exc)
                    and "readonly" not in str(exc)
                ):
                    msg = f"cannot back up {path}: {exc}"
                    raise ActionError(msg, retryable=False, type="Corrupt") from exc
                if on_busy == "fail":
                    msg = f"cannot back up {path}: {exc} (on_busy: fail)"
                    raise ActionError(msg, retryable=True, type="Busy") from exc
                if on_busy == "skip":
                    reason = f"skipped: {exc} (a lock holder shuts the online backup out)"
                    return {"backup_path": None, "method": "skipped", "reason": reason, "bytes": 0}
                made.unlink(missing_ok=True)
                consistent_copy(path, made, work)
                method = "copy"
                reason = f"online backup blocked ({exc}): copied the file with its journal/WAL while unchanged"
            except sqlite3.Error as exc:
                msg = f"cannot back up {path}: {exc}"
                raise ActionError(msg, retryable=False, type="Corrupt") from exc
            check = check_integrity(made, immutable=True)
            if not check.ok:
                msg = (
                    f"not keeping a backup of {path}: the copy fails integrity_check "
                    f"({'; '.join(check.errors[:3]) or check.detail}); the database is already damaged"
                )
                raise ActionError(msg, retryable=False, type="Corrupt")
            size = made.stat().st_size
            dest = _store(ctx, path, made, stamp)
        return {"backup_path": str(dest), "method": method, "reason": reason, "bytes": size}

    result: dict[str, Any] = await anyio.to_thread.run_sync(run)
    return result


@action(
    "db.backup",
    params=DbBackupParams,
    risk="low",
    idempotent=True,
    outputs=("backup_path", "method", "reason", "bytes"),
    describe=lambda p: (
        f"would copy SQLite database {p.path} into the backup store (online backup API; on_busy: {p.on_busy})"
    ),
)
async def backup_database(ctx: ActionContext, params: DbBackupParams) -> ActionResult:
    """Take a consistent, integrity-checked copy of a SQLite file into Grace's backup store."""
    path = target_path(params.path)
    result = await _backup(ctx, path, on_busy=params.on_busy, busy_timeout_s=params.busy_timeout_s)
    if result["method"] == "skipped":
        summary = f"backup of {path} {result['reason']}"
    else:
        summary = f"backed up {path} ({result['method']}, {result['bytes']} bytes) to {Path(result['backup_path']).name}"
    return ActionResult(
        ok=True, summary=summary, outputs=result, changed=result["backup_path"] is not None
    )


def _candidates(ctx: ActionContext, path: Path, wanted: str | None) -> list[Path]:
    slot = backup_slot(ctx.data_dir, path)
    if wanted is None:
        return [p for p in list_backups(ctx.data_dir, path) if _BAK.fullmatch(p.name)]
    candidate = (Path(wanted) if "/" in wanted else slot / wanted).expanduser().resolve()
    if candidate.parent != slot.resolve() or not candidate.is_file():
        msg = f"{wanted!r} is not a backup of {path} (looked in {slot})"
        raise ActionError(msg, retryable=False, type="NoBackup")
    return [candidate]


def _describe_restore(p: DbRestoreParams) -> str:
    source = f"backup {p.backup}" if p.backup else "its newest backup that passes integrity_check"
    return f"would restore SQLite database {p.path} from {source} (current file and sidecars backed up first)"


@action(
    "db.restore",
    params=DbRestoreParams,
    risk="high",
    idempotent=False,
    destructive=True,
    outputs=("restored_from", "backup_path", "sidecars_removed", "rejected"),
    describe=_describe_restore,
)
async def restore_database(ctx: ActionContext, params: DbRestoreParams) -> ActionResult:
    """Put a SQLite file back from its newest good backup, atomically; refused while it is open."""
    path = target_path(params.path)
    now = ctx.clock.now()

    def run() -> dict[str, Any]:
        holders = find_holders(path, data_dir=ctx.data_dir)
        if holders:
            msg = (
                f"{path} is open in {_holders_summary(holders)}: restoring under an open "
                "connection would corrupt it; stop those processes first (service.stop, db.unlock)"
            )
            raise ActionError(msg, retryable=True, type="InUse")
        rejected: list[dict[str, str]] = []
        chosen: tuple[Path, bytes] | None = None
        for candidate in _candidates(ctx, path, params.backup):
            check = check_integrity(candidate, immutable=True)
            if not check.ok:
                rejected.append({"backup": str(candidate), "reason": check.detail})
                continue
            saved = read_bytes(candidate)
            if saved is not None:
                chosen = (candidate, saved[0])
                break
        if chosen is None:
            slot = backup_slot(ctx.data_dir, path)
            msg = f"no backup of {path} passes integrity_check (looked in {slot}; {len(rejected)} rejected)"
            raise ActionError(msg, retryable=False, type="NoBackup", outputs={"rejected": rejected})
        source, content = chosen
        if ctx.dry_run:
            return {
                "restored_from": str(source),
                "backup_path": None,
                "sidecars_removed": [],
                "rejected": rejected,
            }
        pre: str | None = None
        current = read_bytes(path)
        removed: list[str] = []
        if ctx.backup:
            if current is not None:
                pre = str(
                    take_backup(
                        ctx.data_dir, path, keep=ctx.backup_keep, now=now, kind="pre-restore"
                    )
                )
            for side in sidecars(path)[1:]:
                if side.is_file():
                    take_backup(
                        ctx.data_dir, side, keep=ctx.backup_keep, now=now, kind="pre-restore"
                    )
        mode = current[1] if current is not None else 0o644
        # A journal or WAL left next to the restored file would be applied to it: remove them.
        for side in sidecars(path)[1:]:
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
                removed.append(side.name)
        write_atomic(path, content, mode=mode)
        after = check_integrity(path)
        if not after.ok:
            msg = (
                f"restored {path} from {source.name}, but it fails integrity_check: {after.detail}"
            )
            raise ActionError(msg, retryable=False, type="Corrupt")
        return {
            "restored_from": str(source),
            "backup_path": pre,
            "sidecars_removed": removed,
            "rejected": rejected,
        }

    outputs = await anyio.to_thread.run_sync(run)
    skipped = (
        f" ({len(outputs['rejected'])} newer backup(s) failed integrity_check)"
        if outputs["rejected"]
        else ""
    )
    verb = "dry run: would restore" if ctx.dry_run else "restored"
    return ActionResult(
        ok=True,
        summary=f"{verb} {path} from {Path(outputs['restored_from']).name}{skipped}",
        outputs=outputs,
        changed=not ctx.dry_run,
    )
