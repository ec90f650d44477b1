"""The ``log`` source: tail files and globs into events, exactly once across rotations and restarts.

How it holds its guarantees (see ``docs/sources-log.md`` for the user's view):

- **No line lost on rotation.** A renamed file is drained through its still-open descriptor
  before the new file is read, and kept open (and read) until it stays quiet for
  :data:`ROTATED_QUIET_S`. After copytruncate, the copy is found among the siblings (same
  head, same bytes before our offset) and read from where we were.
- **No line repeated on restart.** Offsets are rows (``ctx.state``), saved only after the
  events of the lines before them were emitted; a line re-read after a crash carries the
  event key it had (``dev:ino:epoch:offset``), so the pipeline's idempotent insert drops it.
  A new incarnation's row is saved before any of its events is emitted.
- **Fast path.** With ``ctx.line_filter`` set, each chunk of whole lines is read and scanned
  once, in a worker thread; only the lines the filter returns (and the lines of a traceback
  it starts) are decoded in Python.
"""

from __future__ import annotations

import glob
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.abc import TaskStatus
from pydantic import ConfigDict, Field, model_validator

from grace.events import Event
from grace.sources._base import Emit, LineSpan, SourceConfig, SourceContext, source
from grace.sources.builtin._lines import LineEvents
from grace.sources.builtin._tail import Chunk, FileTail, Incarnation, SavedRow, Truncation
from grace.sources.builtin._traceback import TracebackCollector, is_traceback_start

__all__ = ("LogSource", "LogSourceConfig")

ROTATED_QUIET_S: Final = 5.0
"""A renamed-away file is read until it has not grown for this long (a writer may keep
writing to it until it reopens its log, e.g. after logrotate's postrotate signal)."""
TRACEBACK_QUIET_S: Final = 0.5
"""A traceback whose next line has not arrived after this long is complete."""
SAVE_EVERY_S: Final = 0.2
"""Offset rows are written at most this often per file (and at every rotation and stop)."""
BURST: Final = 8
"""Chunks read from one file before the other files get their turn."""
INLINE_SCAN_S: Final = 0.005
"""Reading and scanning a chunk slower than this moves the next ones to a worker thread."""


class LogSourceConfig(SourceConfig):
    """``type: log`` — follow a file, or every file a glob matches."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["log"] = "log"
    path: str
    """A file, or a glob (``/var/log/app/*.log``) re-expanded every ``rescan_s``."""
    poll_interval_s: float = Field(0.05, ge=0.01, le=10)
    """How often each path is looked at for a new file, growth and truncation."""
    rescan_s: float = Field(1.0, ge=0.05, le=3600)
    """How often a glob is expanded again to find new files."""
    read_chunk: int = Field(1024 * 1024, ge=256, le=64 * 1024 * 1024)
    """Bytes read (and scanned by the line filter) at once."""
    start_at: Literal["end", "beginning"] = "end"
    """Where to start in a file present at startup with no saved offset. Files that appear
    later, and the successor of a rotated file, are always read from the beginning."""
    multiline: bool = True
    """Group a Python traceback into one ``exception`` event."""
    json_mode: Literal["auto", "always", "never"] = Field("auto", alias="json")
    """``auto``: a line that looks like a JSON object is parsed into fields."""
    encoding_errors: Literal["replace", "backslashreplace", "ignore"] = "replace"
    """How bytes that are not UTF-8 are decoded."""
    max_line_bytes: int = Field(64 * 1024, ge=64)
    """Longer lines are cut (``line_cut: true`` and ``line_bytes`` in the attributes)."""

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("path"), str):
            return {**data, "name": f"log:{data['path']}"}
        return data

    @model_validator(mode="after")
    def _line_fits_chunk(self) -> LogSourceConfig:
        if self.max_line_bytes > self.read_chunk:
            msg = (
                f"max_line_bytes ({self.max_line_bytes}) must not exceed read_chunk "
                f"({self.read_chunk}): a line is cut within one read"
            )
            raise ValueError(msg)
        return self


@source("log", config=LogSourceConfig)
class LogSource:
    """Tail log files and globs; rotation-safe, exactly once across restarts; tracebacks grouped."""

    def __init__(self, config: LogSourceConfig, ctx: SourceContext) -> None:
        self.config = config
        self.name = config.name
        self._ctx = ctx
        self._filter = ctx.line_filter
        self._pattern = os.path.abspath(os.path.expanduser(config.path))
        self._is_glob = glob.has_magic(self._pattern)
        self._lines = LineEvents(
            source=config.name,
            service=config.service,
            json_mode=config.json_mode,
            encoding_errors=config.encoding_errors,
            max_line_bytes=config.max_line_bytes,
            new_id=lambda: ctx.ids.new("evt"),
            now=ctx.clock.now,
        )
        self._tails: dict[str, FileTail] = {}
        self._groups: dict[str, TracebackCollector] = {}
        self._saved: dict[str, tuple[str, int]] = {}
        self._saved_at: dict[str, float] = {}
        self._finished: dict[tuple[int, int], SavedRow] = {}
        self._new_paths: set[str] = set()
        self._saving: Incarnation | None = None
        """The incarnation whose progress is the row being read (see :meth:`_checkpoint`)."""
        self._copies: dict[str, tuple[FileTail, Incarnation]] = {}
        """Per path, a copytruncate copy being finished: the row is its progress meanwhile."""
        self._offload = False
        """Whether chunks are read and scanned in a worker thread (see :meth:`_read`)."""
        self._emit: Emit | None = None

    async def run(
        self, emit: Emit, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Follow the files until cancelled; offsets are saved on the way out.

        Two tasks: a watcher that looks at every path each ``poll_interval_s`` and holds a
        file that appears or replaces a rotated one at once, and the reader, which reads
        every path's files in order and emits (and so may wait on the pipeline).
        ``task_status.started()`` once every file is open at its offset (the daemon's
        readiness waits for it).
        """
        self._emit = emit
        try:
            await self._scan(initial=True)
            task_status.started()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch)
                await self._read_loop()
        finally:
            with anyio.CancelScope(shield=True):
                for tail, copy in self._copies.values():
                    await self._save(tail, copy, force=True)
                    copy.close()
                for path, tail in self._tails.items():
                    if tail.chain and path not in self._copies:
                        await self._save(tail, tail.chain[0], force=True)
                    tail.close()

    async def _watch(self) -> None:
        clock = self._ctx.clock
        next_scan = clock.monotonic() + self.config.rescan_s
        while True:
            await clock.sleep(self.config.poll_interval_s)
            if self._is_glob and clock.monotonic() >= next_scan:
                paths = await anyio.to_thread.run_sync(self._expand)
                self._new_paths.update(p for p in paths if p not in self._tails)
                next_scan = clock.monotonic() + self.config.rescan_s
            for tail in list(self._tails.values()):
                change = tail.watch()
                if change is not None:
                    self._log("info", change, tail)

    async def _read_loop(self) -> None:
        while True:
            if self._new_paths:
                await self._scan(initial=False)
            busy = False
            for tail in list(self._tails.values()):
                busy = await self._step(tail) or busy
            if not busy:
                await self._ctx.clock.sleep(self.config.poll_interval_s)

    # -- files -------------------------------------------------------------------------------

    def _expand(self) -> list[str]:
        if not self._is_glob:
            return [self._pattern]
        return sorted(p for p in glob.glob(self._pattern) if os.path.isfile(p))

    async def _scan(self, *, initial: bool) -> None:
        """Open the paths not followed yet (all of them at start, then the glob's new ones)."""
        if initial:
            paths = await anyio.to_thread.run_sync(self._expand)
        else:
            paths, self._new_paths = sorted(self._new_paths), set()
        for path in paths:
            if path in self._tails or (self._is_glob and self._claimed(path)):
                continue  # a rotated file that another path's tail is still reading
            tail = FileTail(
                Path(path),
                read_chunk=self.config.read_chunk,
                max_line_bytes=self.config.max_line_bytes,
                new_epoch=lambda: self._ctx.ids.new("ep"),
            )
            await self._open(tail, initial=initial)
            self._tails[path] = tail
        if self._is_glob and not initial:
            for path, tail in list(self._tails.items()):
                if tail.missing and not tail.incarnations():
                    del self._tails[path]

    def _claimed(self, path: str) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return True
        ident = (st.st_dev, st.st_ino)
        return any(
            (inc.dev, inc.ino) == ident for t in self._tails.values() for inc in t.incarnations()
        )

    async def _open(self, tail: FileTail, *, initial: bool) -> None:
        """Start following ``tail.path``: from its saved row, or as a new file."""
        row = await self._load(tail)
        try:
            st = os.stat(tail.path)
            known = self._finished.get((st.st_dev, st.st_ino))
        except OSError:
            known = None
        at_end = initial and self.config.start_at == "end"
        restored = await anyio.to_thread.run_sync(
            lambda: tail.restore(row, at_end=at_end, known=known)
        )
        level = "warning" if restored.lost or restored.copy else "info"
        self._log(level, restored.kind, tail, restored.note)
        if restored.copy is not None:
            await self._finish_copy(tail, restored.copy)
        if tail.chain:
            await self._save_head(tail)

    async def _step(self, tail: FileTail) -> bool:
        """Read what is new for one path; True when more may be waiting."""
        busy = False
        now = self._ctx.clock.monotonic()
        for inc in list(tail.late):  # rotated files, watched for late lines
            before = inc.pos
            busy = await self._pump(tail, inc, save=False) or busy
            if inc.pos != before:
                inc.quiet_since = now
            elif now - (inc.quiet_since or now) >= ROTATED_QUIET_S:
                await self._drain(tail, inc, save=False)
                tail.late.remove(inc)
                self._forget(inc)
        if not tail.chain:
            return busy
        head = tail.chain[0]
        if len(tail.chain) == 1:
            truncation = tail.truncation(head)
            if truncation is not None:
                await self._truncated(tail, truncation)
        await self._save_head(tail)
        before = head.pos
        if await self._pump(tail, head, save=True):
            return True
        if head.pos != before:
            head.quiet_since = now
        if len(tail.chain) > 1:
            # The head was renamed away and is read to its end: go on with the next file,
            # and keep an eye on this one for lines its writer adds before reopening.
            await self._end_group(tail, head)
            tail.chain.pop(0)
            head.quiet_since = now
            tail.late.append(head)
            return True
        if tail.missing and now - (head.quiet_since or now) >= ROTATED_QUIET_S:
            self._log("info", "closed", tail, "the file was deleted and is read to its end")
            await self._drain(tail, head, save=True)
            tail.chain.clear()
            self._forget(head)
        elif head.quiet_since is None:
            head.quiet_since = now
        return busy

    async def _truncated(self, tail: FileTail, change: Truncation) -> None:
        found = "reading the rest of its copy" if change.copy else "no copy of it was found"
        self._log("info", "truncated", tail, found)
        if change.copy is not None:
            await self._finish_copy(tail, change.copy)
        else:
            await self._end_group(tail, change.old)

    async def _finish_copy(self, tail: FileTail, copy: Incarnation) -> None:
        """Read a copytruncate copy to its end, under the key of the content it copied."""
        self._copies[str(tail.path)] = (tail, copy)  # if stopped meanwhile, run() saves it
        await self._drain(tail, copy, save=True)
        del self._copies[str(tail.path)]
        copy.close()

    def _forget(self, inc: Incarnation) -> None:
        """Close a finished file, remembering where it ended (a glob may find it again)."""
        self._finished[(inc.dev, inc.ino)] = SavedRow(
            inc.dev, inc.ino, inc.epoch, inc.pos, inc.head
        )
        inc.close()

    # -- reading -----------------------------------------------------------------------------

    async def _pump(self, tail: FileTail, inc: Incarnation, *, save: bool) -> bool:
        """Read up to :data:`BURST` chunks; True when more may be waiting."""
        self._saving = inc if save else None
        count = 0
        while count < BURST and tail.size(inc) > inc.pos:
            chunk, hits = await self._read(tail, inc, final=False)
            if chunk is None:
                break  # only a partial line
            count += 1
            await self._process(tail, inc, chunk, hits)
        busy = count >= BURST and tail.size(inc) > inc.pos
        group = self._groups.get(inc.key)
        if (
            not busy
            and group is not None
            and self._ctx.clock.monotonic() - group.last_fed >= TRACEBACK_QUIET_S
        ):
            await self._end_group(tail, inc)
        if save:
            await self._save(tail, inc)
        return busy

    async def _drain(self, tail: FileTail, inc: Incarnation, *, save: bool) -> None:
        """Read a finished file to its very end (a last line without newline included)."""
        self._saving = inc if save else None
        while True:
            chunk, hits = await self._read(tail, inc, final=True)
            if chunk is None:
                break
            await self._process(tail, inc, chunk, hits)
        await self._end_group(tail, inc)
        if save:
            await self._save(tail, inc, force=True)

    async def _read(
        self, tail: FileTail, inc: Incarnation, *, final: bool
    ) -> tuple[Chunk | None, Sequence[LineSpan] | None]:
        """One chunk and, on the fast path, the filter's hits in it.

        Read and scan run on the event loop while a chunk takes under :data:`INLINE_SCAN_S`
        (a worker-thread hop per chunk cost more than the whole overhead of the source
        over the raw scan, in ``bench/logsource.py``); a slower scan (the plain ``re``
        backend, a slow disk) moves to a worker thread so that the loop stays responsive.
        """
        if self._offload:
            return await anyio.to_thread.run_sync(self._read_sync, tail, inc, final)
        found = self._read_sync(tail, inc, final)
        await anyio.lowlevel.checkpoint()
        return found

    def _read_sync(
        self, tail: FileTail, inc: Incarnation, final: bool
    ) -> tuple[Chunk | None, Sequence[LineSpan] | None]:
        started = time.perf_counter()
        try:
            chunk = tail.read_final(inc) if final else tail.read(inc)
            if chunk is None or self._filter is None:
                return chunk, None
            if not chunk.data:
                return chunk, ()
            if chunk.kind == "lines":
                return chunk, self._filter(chunk.data)
            return chunk, self._filter(chunk.data + b"\n")
        finally:
            self._offload = time.perf_counter() - started > INLINE_SCAN_S

    async def _process(
        self, tail: FileTail, inc: Incarnation, chunk: Chunk, hits: Sequence[LineSpan] | None
    ) -> None:
        """Turn a chunk's lines (all of them, or the hits) into events, in file order."""
        data, base, n = chunk.data, chunk.start, len(chunk.data)
        flags: dict[str, Any] = {}
        if chunk.kind == "cut":
            flags = {"line_cut": True}
        elif chunk.kind == "partial":
            flags = {"line_partial": True}
        pos = 0
        if inc.key in self._groups:
            pos = await self._feed_group(tail, inc, data, base, 0)
        if hits is None:
            while pos < n:
                nl = data.find(b"\n", pos)
                end = n if nl < 0 else nl
                pos = await self._line(tail, inc, data, base, pos, end, flags)
        else:
            for hit in hits:
                if hit.start >= pos:
                    pos = await self._line(tail, inc, data, base, hit.start, hit.end, flags)
        if inc.key not in self._groups:
            inc.committed = chunk.end

    async def _line(
        self,
        tail: FileTail,
        inc: Incarnation,
        data: bytes,
        base: int,
        start: int,
        end: int,
        flags: dict[str, Any],
    ) -> int:
        """Handle the line ``data[start:end]``; returns where the next line starts.

        ``end`` may stop before a ``\r`` (a filter's hit does); the line ends at its ``\n``.
        """
        nl = data.find(b"\n", end)
        after = len(data) if nl < 0 else nl + 1
        raw = data[start:end]
        if self.config.multiline and is_traceback_start(raw):
            header, _ = self._lines.decode(raw)
            self._groups[inc.key] = TracebackCollector(
                header, offset=base + start, now=self._ctx.clock.monotonic()
            )
            return await self._feed_group(tail, inc, data, base, after)
        event = self._lines.line(raw, file=str(tail.path), offset=base + start, **flags)
        if event is not None:
            await self._send(event, inc, base + start)
            inc.committed = base + after
            await self._checkpoint(tail, inc)
        return after

    async def _feed_group(
        self, tail: FileTail, inc: Incarnation, data: bytes, base: int, pos: int
    ) -> int:
        """Give the open traceback the lines from ``pos``; returns the first line not taken."""
        group = self._groups[inc.key]
        n = len(data)
        now = self._ctx.clock.monotonic()
        while pos < n:
            nl = data.find(b"\n", pos)
            end = n if nl < 0 else nl
            text, _ = self._lines.decode(data[pos:end])
            if not group.feed(text, now=now):
                await self._end_group(tail, inc, base + pos)
                return pos
            pos = end + 1
        return n

    async def _end_group(self, tail: FileTail, inc: Incarnation, upto: int | None = None) -> None:
        """Emit the open traceback; ``upto`` (default: all read) is then fully handled."""
        group = self._groups.pop(inc.key, None)
        if group is None:
            return
        event = self._lines.exception(group.lines, file=str(tail.path), offset=group.offset)
        await self._send(event, inc, group.offset)
        inc.committed = max(inc.committed, inc.pos if upto is None else upto)
        await self._checkpoint(tail, inc)

    async def _checkpoint(self, tail: FileTail, inc: Incarnation) -> None:
        """Save the row now and then while a chunk's events go out (a slow pipeline may
        take seconds over one chunk; a crash then repeats at most ~SAVE_EVERY_S of them)."""
        if self._saving is inc:
            await self._save(tail, inc)

    async def _send(self, event: Event, inc: Incarnation, offset: int) -> None:
        assert self._emit is not None
        await self._emit(event, f"{inc.key}:{offset}")

    # -- rows ----------------------------------------------------------------------------------

    def _row_id(self, tail: FileTail) -> str:
        return f"{self.name}|{tail.path}"

    async def _load(self, tail: FileTail) -> SavedRow | None:
        row_id = self._row_id(tail)
        saved = await anyio.to_thread.run_sync(self._ctx.state.get_offset, row_id)
        if saved is None:
            return None
        self._saved[row_id] = saved
        return SavedRow.parse(*saved)

    async def _save_head(self, tail: FileTail) -> None:
        """Persist a new head (its epoch) before the first of its events is emitted."""
        head = tail.chain[0]
        saved = self._saved.get(self._row_id(tail), ("",))[0]
        if saved != head.key and not saved.startswith(f"{head.key}:"):
            await self._save(tail, head, force=True)

    async def _save(self, tail: FileTail, inc: Incarnation, *, force: bool = False) -> None:
        """Write the row of ``inc`` if it moved (at most every :data:`SAVE_EVERY_S` unless forced)."""
        row_id = self._row_id(tail)
        now = self._ctx.clock.monotonic()
        if not force and now - self._saved_at.get(row_id, -math.inf) < SAVE_EVERY_S:
            return
        value = (inc.file_key(), inc.committed)
        if self._saved.get(row_id) == value:
            return
        await anyio.to_thread.run_sync(self._ctx.state.save_offset, row_id, *value)
        self._saved[row_id] = value
        self._saved_at[row_id] = now

    def _log(self, level: str, kind: str, tail: FileTail, detail: str = "") -> None:
        logger = self._ctx.logger
        if logger is not None:
            getattr(logger, level)(
                f"log source {self.name}: {tail.path} {kind.replace('_', ' ')}"
                + (f": {detail}" if detail else ""),
                event_type=f"source.log.{kind}",
                source=self.name,
                path=str(tail.path),
            )
