"""The mirror: every committed entry as one JSON line in ``logs/immutable_audit.jsonl``.

Grep-able, and a copy of the chain outside the database. The database stays the source of
truth: :meth:`Mirror.catch_up` appends what the database holds past the mirror's last line
(after a crash between a commit and its mirror write, or a deleted mirror), and cuts off a
torn last line first. Not thread-safe on its own: :class:`~grace.audit.AuditLog` calls it
under its lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import structlog

from grace.audit._chain import AuditEntry
from grace.store import _audit_sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ("Mirror",)

_log = structlog.get_logger("grace.audit")


class Mirror:
    """Appends entries to a JSONL file, one ``AuditEntry.to_json()`` per line, flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._synced_upto = 0
        """Entries up to this seq were written by :meth:`catch_up`; later writes skip them."""

    def write(self, entries: Sequence[AuditEntry]) -> None:
        """Append ``entries``. A failed write is logged, not raised: they are committed."""
        lines = [e.to_json() + "\n" for e in entries if e.seq > self._synced_upto]
        if not lines:
            return
        try:
            out = self._open()
            out.write("".join(lines))
            out.flush()
        except OSError as exc:
            # Failing the callers would tell them their committed entries were lost; the
            # mirror catches up from the database on the next start instead.
            _log.error("audit_mirror_write_failed", path=str(self.path), error=str(exc))
            self.close()

    def catch_up(self, engine: Engine) -> int:
        """Append what the database holds past the mirror's last line; returns how many."""
        if self._file is not None:
            self._file.flush()
        last = _mirror_tail(self.path)
        written = 0
        with _audit_sql.snapshot(engine) as snap:
            head = snap.head()
            head_seq = 0 if head is None else head[0]
            if head_seq > last:
                out = self._open()
                for page in snap.pages(last + 1):
                    rows = [r for r in page if r[0] <= head_seq]
                    out.write("".join(AuditEntry(*r).to_json() + "\n" for r in rows))
                    written += len(rows)
                out.flush()
        self._synced_upto = max(self._synced_upto, head_seq)
        return written

    def close(self) -> None:
        """Close the file (it is opened again on the next write)."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                _log.error("audit_mirror_close_failed", path=str(self.path), error=str(exc))

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", newline="\n")
        return self._file


def _mirror_tail(path: Path) -> int:
    """The seq on the mirror's last complete line (0 for a missing or empty mirror).

    A torn last line (a crash mid-write: no newline at the end) is cut off first; the entry
    it held is written again from the database.
    """
    try:
        f = path.open("r+b")
    except FileNotFoundError:
        return 0
    with f:
        size = f.seek(0, 2)
        window = 65536
        while True:  # widen the window until it holds a whole line (two newlines)
            start = max(0, size - window)
            f.seek(start)
            tail = f.read(size - start)
            if start == 0 or tail.count(b"\n") >= 2:
                break
            window *= 4
        end = tail.rfind(b"\n") + 1
        if end < len(tail):
            f.truncate(start + end)
            tail = tail[:end]
    lines = tail.splitlines()
    if start > 0:
        lines = lines[1:]  # the window's first line is only the end of one
    for line in reversed(lines):
        try:
            seq = json.loads(line)["seq"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(seq, int):
            return seq
    return 0
