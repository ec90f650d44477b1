"""Following one log path across rename rotation, copytruncate and truncation.

A file is followed by *incarnation*: one inode (``dev:ino``) from the moment it is opened or
truncated until it is rotated away, named by an ``epoch`` token drawn when the incarnation
starts. Event keys are ``dev:ino:epoch:offset``: a line re-read after a crash gets the key it
had, while a line written at the same offset after a truncation (same inode, new epoch) gets a
new one. The offset row stores ``dev:ino:epoch[:head_len:head_crc]``; the head checksum (the
first bytes of the file) tells, after a restart, whether the inode still holds the same file.

Everything here is synchronous file work (``os.stat``, ``os.pread``); the source calls it from
a worker thread and keeps the event side.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = ("Chunk", "FileTail", "Incarnation", "Restored", "SavedRow", "Truncation")

HEAD_BYTES: Final = 64
"""Bytes of a file's head that identify its content (and of the tail before an offset)."""
_COMPRESSED: Final = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


@dataclass(frozen=True, slots=True)
class SavedRow:
    """An offset row, parsed: which incarnation, how far its lines were handled."""

    dev: int
    ino: int
    epoch: str
    offset: int
    head: tuple[int, int] | None = None

    @classmethod
    def parse(cls, file_key: str, offset: int) -> SavedRow | None:
        """The row ``(file_key, offset)`` as saved by :meth:`Incarnation.file_key`; None if foreign."""
        parts = file_key.split(":")
        try:
            head = (int(parts[3]), int(parts[4], 16)) if len(parts) == 5 else None
            if len(parts) not in (3, 5):
                return None
            return cls(int(parts[0]), int(parts[1]), parts[2], offset, head)
        except ValueError:
            return None


@dataclass(slots=True)
class Incarnation:
    """One life of a file, open for reading."""

    dev: int
    ino: int
    epoch: str
    fd: int
    """Open descriptor (-1 once closed). A copy left by copytruncate is read through its own
    descriptor under the original's key."""
    pos: int
    """Next byte to read: just after the last complete line handed out."""
    committed: int
    """Just after the last line whose event (if any) was emitted: what the offset row saves."""
    head: tuple[int, int] | None = None
    """``(length, crc32)`` of the file's first bytes, known once anything was read."""
    last_bytes: bytes = b""
    """The bytes just before ``pos`` (to recognise a copytruncate copy)."""
    skipping: bool = False
    """Inside an over-long line: bytes are discarded until the next newline."""
    quiet_since: float | None = None
    """Monotonic time since when a rotated file has not grown."""

    @property
    def key(self) -> str:
        """``dev:ino:epoch``: the prefix of every event key from this incarnation."""
        return f"{self.dev}:{self.ino}:{self.epoch}"

    def file_key(self) -> str:
        """What the offset row stores (the key, plus the head checksum when known)."""
        if self.head is None:
            return self.key
        return f"{self.key}:{self.head[0]}:{self.head[1]:08x}"

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes handed to the source: whole lines, or one cut or final line."""

    start: int
    """File offset of ``data[0]``."""
    data: bytes
    """``lines``: complete lines, each ending in ``\\n`` (empty while skipping an over-long
    line); ``cut``/``partial``: one line without its newline."""
    end: int
    """File offset just after the bytes consumed."""
    kind: Literal["lines", "cut", "partial"] = "lines"


@dataclass(frozen=True, slots=True)
class Truncation:
    """The followed inode shrank (or its head changed): a new incarnation starts at 0."""

    old: Incarnation
    """The incarnation that ended (its descriptor now belongs to the new one)."""
    copy: Incarnation | None
    """A sibling holding the old content (copytruncate), open at ``old.pos`` under the old
    key; None when none was found."""


@dataclass(frozen=True, slots=True)
class Restored:
    """How :meth:`FileTail.restore` found things after a (re)start."""

    kind: str
    """What happened: ``following``, ``waiting``, ``resumed``, ``truncated_while_stopped``,
    ``rotated_while_stopped``."""
    note: str = ""
    """Details for the log."""
    copy: Incarnation | None = None
    """A copytruncate copy to read to its end (under the saved key) before the chain."""
    lost: bool = False
    """The file last read could not be found: lines after the saved offset are lost."""


class FileTail:
    """One watched path: the files to read in order, and rotated files still watched.

    ``chain[0]`` is the *head*, the file being read; every later member was renamed in
    after it and is read once the head is exhausted; ``chain[-1]`` is the file at the
    path. Only the head has had events emitted, so only the head needs an offset row: a
    member behind it is found again after a restart (see :meth:`restore`).
    """

    def __init__(
        self,
        path: Path,
        *,
        read_chunk: int,
        max_line_bytes: int,
        new_epoch: Callable[[], str],
    ) -> None:
        self.path = path
        self.read_chunk = read_chunk
        self.max_line_bytes = max_line_bytes
        self.new_epoch = new_epoch
        self.chain: list[Incarnation] = []
        self.late: list[Incarnation] = []
        """Rotated files already read to their end, watched for late lines for a while."""
        self.missing = False
        """The path named no file at the last look."""

    def incarnations(self) -> list[Incarnation]:
        """Every open incarnation (chain and late)."""
        return [*self.chain, *self.late]

    # -- opening -------------------------------------------------------------------------

    def open_path(self, *, at_end: bool = False) -> Incarnation | None:
        """A new incarnation of the file at the path (from 0, or its last line start)."""
        inc = _open(self.path, self.new_epoch)
        if inc is not None and at_end:
            self._seek_line_start(inc, os.fstat(inc.fd).st_size)
        return inc

    def resume(self, row: SavedRow) -> Incarnation | None:
        """Reopen the incarnation of ``row`` at the path, if the path still holds it unchanged."""
        inc = _open(self.path)
        if inc is None:
            return None
        if (
            (inc.dev, inc.ino) != (row.dev, row.ino)
            or os.fstat(inc.fd).st_size < row.offset
            or not _same_head(inc.fd, row)
        ):
            inc.close()
            return None
        inc.epoch, inc.pos, inc.committed, inc.head = row.epoch, row.offset, row.offset, row.head
        _note_position(inc)
        return inc

    def restore(self, row: SavedRow | None, *, at_end: bool, known: SavedRow | None) -> Restored:
        """Build the chain after a (re)start, from the saved row (or none).

        - The row's file is still at the path, unchanged: resume at the saved offset.
        - It is at the path but shorter, or with another head (truncated while stopped): the
          copy, if one is found, is returned to be read first; the file restarts at 0.
        - It is elsewhere (rotated while stopped): it is found among the siblings by inode
          and head and read on from the offset, then every sibling rotated after it (a name
          ``<basename>.…``/``-…``/``_…``, modified later), then the file at the path from 0.
        - No row: the path's file from its start or end (``at_end``); ``known`` is where a
          file renamed into a glob was left (read on from there).
        """
        if row is None:
            inc = self.resume(known) if known is not None else None
            inc = inc or self.open_path(at_end=at_end)
            self.chain = [] if inc is None else [inc]
            return Restored("following") if inc else Restored("waiting", "no file there yet")
        inc = self.resume(row)
        if inc is not None:
            self.chain = [inc]
            return Restored("resumed", f"at offset {row.offset}")
        current = self.open_path()
        if current is not None and (current.dev, current.ino) == (row.dev, row.ino):
            self.chain = [current]
            copy = self.find_copy(row)
            note = "reading the rest of its copy" if copy else "no copy of it was found"
            return Restored("truncated_while_stopped", note, copy=copy, lost=copy is None)
        moved = self.find_moved(row)
        chain = [] if moved is None else [moved, *self._rotated_after(moved, current)]
        self.chain = chain + ([] if current is None else [current])
        if moved is None:
            note = "the file last read was not found"
            return Restored("rotated_while_stopped", note, lost=True)
        return Restored("rotated_while_stopped", f"{len(chain)} rotated file(s) to finish")

    def find_moved(self, row: SavedRow) -> Incarnation | None:
        """The file of ``row`` under another name in the same folder (a rename rotation)."""
        for entry in self._siblings():
            try:
                if entry.inode() != row.ino or entry.stat().st_dev != row.dev:
                    continue
            except OSError:
                continue
            inc = _open_as(Path(entry.path), row)
            if inc is not None:
                return inc
        return None

    def find_copy(self, row: SavedRow, last_bytes: bytes = b"") -> Incarnation | None:
        """A sibling holding the content of ``row`` up to its offset (a copytruncate copy).

        Any sibling whose name starts like the path's (``app`` for ``app.log``) and is not
        compressed qualifies if its head matches and, when known, so do the bytes just
        before the offset; the most recently modified wins.
        """
        stem = self.path.name.split(".", 1)[0]
        best: tuple[float, Incarnation] | None = None
        for entry in self._siblings():
            if not entry.name.startswith(stem) or entry.name.endswith(_COMPRESSED):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (row.dev, row.ino) or st.st_size < row.offset:
                continue
            inc = _open_as(Path(entry.path), row)
            if inc is None:
                continue
            before = os.pread(inc.fd, len(last_bytes), row.offset - len(last_bytes))
            if before != last_bytes or (best is not None and best[0] >= st.st_mtime):
                inc.close()
                continue
            if best is not None:
                best[1].close()
            best = (st.st_mtime, inc)
        return None if best is None else best[1]

    def _rotated_after(self, ref: Incarnation, current: Incarnation | None) -> list[Incarnation]:
        base = self.path.name
        since = os.fstat(ref.fd).st_mtime_ns
        found: list[tuple[int, Incarnation]] = []
        for entry in self._siblings():
            name = entry.name
            if not (name.startswith(base) and name[len(base) : len(base) + 1] in (".", "-", "_")):
                continue
            if name.endswith(_COMPRESSED):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if st.st_mtime_ns < since or ident == (ref.dev, ref.ino):
                continue
            if current is not None and ident == (current.dev, current.ino):
                continue
            inc = _open(Path(entry.path), self.new_epoch)
            if inc is not None:
                found.append((st.st_mtime_ns, inc))
        return [inc for _, inc in sorted(found, key=lambda f: f[0])]

    # -- watching --------------------------------------------------------------------------

    def watch(self) -> Literal["appeared", "rotated", "vanished"] | None:
        """Look at the path and hold a new file there at once.

        Holding the new file's descriptor right away means a file renamed away later (while
        the reader is still busy with an older one) is still read whole. The path is opened
        rather than ``stat``-ed, so that no file can slip by between the look and the open.
        """
        inc = _open(self.path)
        if inc is None:
            was, self.missing = self.missing, True
            return None if was or not self.chain else "vanished"
        self.missing = False
        if any((o.dev, o.ino) == (inc.dev, inc.ino) for o in self.incarnations()):
            inc.close()
            return None
        inc.epoch = self.new_epoch()
        self.chain.append(inc)
        return "rotated" if len(self.chain) > 1 else "appeared"

    def truncation(self, inc: Incarnation) -> Truncation | None:
        """Whether the path's file ``inc`` was truncated (shrank below what was read, or its
        head changed); if so ``inc`` becomes a new incarnation read from 0."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != (inc.dev, inc.ino):
            return None
        if st.st_size >= inc.pos and _same_head(inc.fd, _row_of(inc)):
            return None
        old = Incarnation(
            inc.dev, inc.ino, inc.epoch, -1, inc.pos, inc.committed, inc.head, inc.last_bytes
        )
        copy = self.find_copy(_row_of(inc), inc.last_bytes) if inc.pos > 0 else None
        if copy is not None:
            copy.committed = inc.committed
        inc.epoch, inc.pos, inc.committed = self.new_epoch(), 0, 0
        inc.head, inc.last_bytes, inc.skipping = None, b"", False
        return Truncation(old, copy)

    # -- reading ---------------------------------------------------------------------------

    def read(self, inc: Incarnation) -> Chunk | None:
        """The next whole lines (at most ``read_chunk`` bytes), or None when there are none."""
        start = inc.pos
        buf = os.pread(inc.fd, self.read_chunk, start)
        if not buf:
            return None
        if inc.skipping:
            nl = buf.find(b"\n")
            inc.skipping = nl < 0
            inc.pos = start + (len(buf) if nl < 0 else nl + 1)
            return Chunk(start, b"", inc.pos)
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) < self.read_chunk:
                return None  # a partial line: wait for its newline
            inc.pos, inc.skipping = start + len(buf), True
            self._remember(inc, start, buf)
            return Chunk(start, buf[: self.max_line_bytes], inc.pos, "cut")
        data = buf if cut == len(buf) - 1 else buf[: cut + 1]
        inc.pos = start + len(data)
        self._remember(inc, start, data)
        return Chunk(start, data, inc.pos)

    def read_final(self, inc: Incarnation) -> Chunk | None:
        """Like :meth:`read`, but a last line without newline is handed out too (the file
        is finished: rotated away or truncated)."""
        chunk = self.read(inc)
        if chunk is not None:
            return chunk
        start = inc.pos
        rest = os.pread(inc.fd, self.read_chunk, start)
        if not rest:
            return None
        if b"\n" in rest:
            return self.read(inc)  # grew in between
        inc.pos = start + len(rest)
        self._remember(inc, start, rest)
        if inc.skipping:
            inc.skipping = False
            return Chunk(start, b"", inc.pos)
        return Chunk(start, rest[: self.max_line_bytes], inc.pos, "partial")

    def size(self, inc: Incarnation) -> int:
        """The incarnation's current size (``fstat``)."""
        return os.fstat(inc.fd).st_size

    def close(self) -> None:
        """Close every descriptor."""
        for inc in self.incarnations():
            inc.close()
        self.chain, self.late = [], []

    # -- helpers ---------------------------------------------------------------------------

    def _siblings(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.path.parent) as entries:
                return [e for e in entries if e.name != self.path.name and e.is_file()]
        except OSError:
            return []

    def _remember(self, inc: Incarnation, start: int, data: bytes) -> None:
        if inc.head is None and start == 0 and data:
            head = data[:HEAD_BYTES]
            inc.head = (len(head), zlib.crc32(head))
        tail = data[-HEAD_BYTES:]
        inc.last_bytes = tail if len(tail) == HEAD_BYTES else (inc.last_bytes + tail)[-HEAD_BYTES:]

    def _seek_line_start(self, inc: Incarnation, size: int) -> None:
        window = min(size, self.max_line_bytes)
        if window == 0:
            return
        tail = os.pread(inc.fd, window, size - window)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            inc.pos = size - window + nl + 1
        elif window < size:
            inc.pos, inc.skipping = size, True  # inside an over-long line: skip its rest
        inc.committed = inc.pos
        _note_position(inc)


def _open(path: Path, new_epoch: Callable[[], str] | None = None) -> Incarnation | None:
    """``path`` opened as a new incarnation from 0 (the epoch drawn only if ``new_epoch``)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return Incarnation(st.st_dev, st.st_ino, new_epoch() if new_epoch else "", fd, 0, 0)


def _open_as(path: Path, row: SavedRow) -> Incarnation | None:
    """``path`` opened as the incarnation of ``row`` if its content agrees, at its offset."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if os.fstat(fd).st_size < row.offset or not _same_head(fd, row):
        os.close(fd)
        return None
    inc = Incarnation(row.dev, row.ino, row.epoch, fd, row.offset, row.offset, row.head)
    _note_position(inc)
    return inc


def _same_head(fd: int, row: SavedRow) -> bool:
    if row.head is None:
        return True
    length, crc = row.head
    return zlib.crc32(os.pread(fd, length, 0)) == crc


def _note_position(inc: Incarnation) -> None:
    """Fill ``head`` and ``last_bytes`` for an incarnation opened mid-file."""
    if inc.pos > 0:
        before = min(inc.pos, HEAD_BYTES)
        inc.last_bytes = os.pread(inc.fd, before, inc.pos - before)
        if inc.head is None:
            head = os.pread(inc.fd, min(inc.pos, HEAD_BYTES), 0)
            inc.head = (len(head), zlib.crc32(head))


def _row_of(inc: Incarnation) -> SavedRow:
    return SavedRow(inc.dev, inc.ino, inc.epoch, inc.pos, inc.head)
