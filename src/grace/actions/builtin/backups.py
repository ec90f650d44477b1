"""The backup store, and the ``file.backup`` / ``file.restore`` actions built on it.

Every destructive built-in (``file.write``, ``file.restore``, ``env.set``) copies the current
file here first, unless the step says ``backup: false``. Layout::

    <data_dir>/backups/<slot>/<UTC timestamp>-<n>.bak              an ordinary backup
    <data_dir>/backups/<slot>/<UTC timestamp>-<n>.pre-restore.bak  taken by file.restore

``<slot>`` is the file's absolute path, percent-encoded into one safe directory name
(``srv%2Fapp%2F.env``; very long paths are shortened and suffixed with a hash). ``<n>``
increases with every backup of the file, so order never depends on the clock. Copies keep
the file's permission bits; directories are ``0700`` because ``.env`` copies hold secrets.

``file.restore`` without ``backup:`` restores the newest *ordinary* backup, never a
pre-restore one, so running it twice restores the same content (it is idempotent).
Each kind keeps its newest ``backup_keep`` copies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.errors import ActionError

__all__ = (
    "BackupParams",
    "RestoreParams",
    "backup_before_change",
    "backup_file",
    "backup_slot",
    "list_backups",
    "restore_file",
    "take_backup",
)

BACKUPS_DIR = "backups"
_NAME = re.compile(r"(?P<ts>\d{8}T\d{6}\.\d{6}Z)-(?P<n>\d+)(?P<pre>\.pre-restore)?\.bak")
_MAX_SLOT = 200
_PRE_RESTORE = "pre-restore"


@dataclass(frozen=True, slots=True)
class _Entry:
    path: Path
    n: int
    ts: str
    pre_restore: bool


def backup_slot(data_dir: Path, path: str | Path) -> Path:
    """The directory holding the backups of ``path`` (which need not exist yet)."""
    absolute = str(target_path(str(path))).lstrip("/")
    slot = quote(absolute, safe="")
    if len(slot) > _MAX_SLOT:
        digest = hashlib.sha256(absolute.encode()).hexdigest()[:16]
        slot = f"{slot[: _MAX_SLOT - 17]}~{digest}"
    return data_dir / BACKUPS_DIR / slot


def _entries(slot: Path) -> list[_Entry]:
    found: list[_Entry] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for child in slot.iterdir():
            m = _NAME.fullmatch(child.name)
            if m is not None:
                found.append(_Entry(child, int(m["n"]), m["ts"], m["pre"] is not None))
    found.sort(key=lambda e: (e.n, e.ts), reverse=True)
    return found


def list_backups(data_dir: Path, path: str | Path) -> list[Path]:
    """Every backup of ``path``, newest first (ordinary and pre-restore alike)."""
    return [e.path for e in _entries(backup_slot(data_dir, path))]


def take_backup(
    data_dir: Path, path: Path, *, keep: int, now: datetime, kind: str = "backup"
) -> Path:
    """Copy ``path`` into the store, prune old copies of the same kind, return the copy.

    Blocking: call it through ``anyio.to_thread.run_sync``.

    Raises:
        ActionError: ``path`` does not exist or is not a regular file (not retryable).
    """
    current = read_bytes(path)
    if current is None:
        msg = f"cannot back up {path}: no such file"
        raise ActionError(msg, retryable=False, type="FileNotFound")
    content, mode = current
    slot = backup_slot(data_dir, path)
    slot.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    suffix = ".pre-restore.bak" if kind == _PRE_RESTORE else ".bak"
    n = max((e.n for e in _entries(slot)), default=0) + 1
    while True:
        dest = slot / f"{stamp}-{n}{suffix}"
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # a concurrent backup took this number
            n += 1
            continue
        break
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fchmod(fh.fileno(), mode)
        os.fsync(fh.fileno())
    _prune(slot, keep=keep, pre_restore=kind == _PRE_RESTORE)
    return dest


def _prune(slot: Path, *, keep: int, pre_restore: bool) -> None:
    same_kind = [e for e in _entries(slot) if e.pre_restore == pre_restore]
    for old in same_kind[max(1, keep) :]:
        with contextlib.suppress(FileNotFoundError):
            old.path.unlink()


async def backup_before_change(
    ctx: ActionContext, path: Path, *, kind: str = "backup"
) -> Path | None:
    """Back ``path`` up before a destructive change, when it exists and ``ctx.backup`` is on."""
    if not ctx.backup:
        return None
    now = ctx.clock.now()

    def backup() -> Path | None:
        if not path.exists():
            return None
        return take_backup(ctx.data_dir, path, keep=ctx.backup_keep, now=now, kind=kind)

    return await anyio.to_thread.run_sync(backup)


class BackupParams(BuiltinParams):
    """Parameters of ``file.backup``."""

    path: FilePath
    """The file to copy into the backup store."""


@action(
    "file.backup",
    params=BackupParams,
    risk="low",
    idempotent=True,
    outputs=("backup_path",),
    describe=lambda p: f"would copy {p.path} into the backup store",
)
async def backup_file(ctx: ActionContext, params: BackupParams) -> ActionResult:
    """Copy a file into Grace's backup store (keeps the newest ``backup_keep`` copies)."""
    path = target_path(params.path)
    now = ctx.clock.now()
    dest = await anyio.to_thread.run_sync(
        lambda: take_backup(ctx.data_dir, path, keep=ctx.backup_keep, now=now)
    )
    return ActionResult(
        ok=True, summary=f"backed up {path} to {dest.name}", outputs={"backup_path": str(dest)}
    )


class RestoreParams(BuiltinParams):
    """Parameters of ``file.restore``."""

    path: FilePath
    """The file to put back."""
    backup: FilePath | None = None
    """A backup's file name or full path (``file.backup``'s ``backup_path``); None = the newest."""


def _describe_restore(p: RestoreParams) -> str:
    source = f"backup {p.backup}" if p.backup else "its newest backup"
    return f"would restore {p.path} from {source} (the current file is backed up first)"


def _choose(data_dir: Path, path: Path, wanted: str | None) -> Path:
    slot = backup_slot(data_dir, path)
    entries = _entries(slot)
    if wanted is None:
        ordinary = [e for e in entries if not e.pre_restore]
        if not ordinary:
            msg = f"no backups of {path} to restore (looked in {slot})"
            raise ActionError(msg, retryable=False, type="NoBackup")
        return ordinary[0].path
    candidate = Path(wanted) if "/" in wanted else slot / wanted
    candidate = candidate.expanduser().resolve()
    if candidate.parent != slot.resolve() or _NAME.fullmatch(candidate.name) is None:
        msg = f"{wanted!r} is not a backup of {path}"
        err = ActionError(msg, retryable=False, type="NoBackup")
        names = ", ".join(e.path.name for e in entries[:5]) or "none"
        err.hint = f"pass a name from list_backups or file.backup's backup_path (newest: {names})"
        raise err
    if not candidate.is_file():
        msg = f"backup {candidate} does not exist (it may have been pruned)"
        raise ActionError(msg, retryable=False, type="NoBackup")
    return candidate


@action(
    "file.restore",
    params=RestoreParams,
    risk="medium",
    idempotent=True,
    destructive=True,
    outputs=("restored_from", "backup_path"),
    describe=_describe_restore,
)
async def restore_file(ctx: ActionContext, params: RestoreParams) -> ActionResult:
    """Put a file back from the backup store, atomically, backing up the current file first."""
    path = target_path(params.path)

    def load() -> tuple[Path, bytes, int, tuple[bytes, int] | None]:
        source = _choose(ctx.data_dir, path, params.backup)
        saved = read_bytes(source)
        if saved is None:
            msg = f"backup {source} vanished while restoring (pruned concurrently?)"
            raise ActionError(msg, retryable=True, type="NoBackup")
        return source, saved[0], saved[1], read_bytes(path)

    # Read the backup before taking the pre-restore copy: pruning must not delete it first.
    source, content, mode, current = await anyio.to_thread.run_sync(load)
    outputs: dict[str, str | None] = {"restored_from": str(source), "backup_path": None}
    if current == (content, mode):
        return ActionResult(
            ok=True, summary=f"{path} already matches {source.name}", outputs=outputs, changed=False
        )
    backup = await backup_before_change(ctx, path, kind=_PRE_RESTORE)
    outputs["backup_path"] = str(backup) if backup else None

    def put_back() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, content, mode=mode)

    await anyio.to_thread.run_sync(put_back)
    return ActionResult(ok=True, summary=f"restored {path} from {source.name}", outputs=outputs)
