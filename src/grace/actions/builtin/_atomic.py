"""Atomic file replacement: readers see the old file or the new one, never half of either.

Every built-in action that changes a file goes through :func:`write_atomic` (a temp file in
the same directory, fsync, ``os.replace``, fsync of the directory). Read-modify-write updates
(``env.set``, ``flag.set``) also hold :func:`directory_lock` so two runs editing the same
file cannot lose each other's change. These functions block: call them through
``anyio.to_thread.run_sync``, which also lets a cancelled step finish its write first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from grace.errors import ActionError

__all__ = ("directory_lock", "read_bytes", "target_path", "write_atomic")


def target_path(path: str) -> Path:
    """The absolute path an action works on: ``~`` expanded, symlinks followed.

    Following symlinks means a linked ``.env`` is updated where it lives instead of being
    replaced by a regular file.
    """
    return Path(path).expanduser().resolve()


def read_bytes(path: Path) -> tuple[bytes, int] | None:
    """``(content, permission bits)`` of a regular file, or None when it does not exist.

    Raises:
        ActionError: ``path`` is a directory or something else that is not a regular file.
    """
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                msg = f"{path} is not a regular file"
                raise ActionError(msg, retryable=False, type="NotAFile")
            return fh.read(), st.st_mode & 0o7777
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        msg = f"{path} is a directory; this action works on regular files"
        raise ActionError(msg, retryable=False, type="NotAFile") from None


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` and permission bits ``mode``, atomically and durably.

    Raises:
        ActionError: the directory does not exist (not retryable) or the write failed.
    """
    parent = path.parent
    if not parent.is_dir():
        msg = f"cannot write {path}: directory {parent} does not exist"
        raise ActionError(msg, retryable=False, type="DirectoryMissing")
    try:
        # mkstemp creates the file 0600, so nothing is readable before the final mode is set.
        fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        msg = f"cannot write {path}: {exc.strerror or exc}"
        raise ActionError(msg, retryable=False, type="WriteFailed") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            # Disk full or a read-only mount: a clean-up step may fix it, so it is retryable.
            msg = f"cannot write {path}: {exc.strerror or exc}"
            raise ActionError(msg, retryable=True, type="WriteFailed") from exc
        raise
    _fsync_directory(parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse, which is harmless.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def directory_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path``'s directory for a read-modify-write.

    Locking the directory (not a sidecar ``.lock`` file) leaves nothing behind in ``/etc``.
    """
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except FileNotFoundError:
        msg = f"cannot update {path}: directory {path.parent} does not exist"
        raise ActionError(msg, retryable=False, type="DirectoryMissing") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
