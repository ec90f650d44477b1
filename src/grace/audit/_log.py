"""The audit log: group-committed appends, the JSONL mirror, and signed checkpoints.

Three ways in, one chain:

- ``await log.append(draft)``: group commit. Drafts wait until ``flush_at`` are pending or
  ``flush_after`` seconds passed since the oldest one, then one transaction commits the batch
  and every caller is acknowledged. An entry is acknowledged only after its batch committed;
  if the batch fails, every caller in it gets the error and nothing of it is in the chain.
- ``log.append_now(drafts)``: one transaction, now (synchronous).
- The store's own transactions call :func:`grace.store._audit_sql.append_entries` next to the
  state change they record, and :meth:`AuditLog.committed` after the commit.

After every commit the entries are appended to the mirror (``logs/immutable_audit.jsonl``,
one JSON object per line) and, once ``checkpoint_every`` entries passed since the last
checkpoint, the newest entry's hash is signed.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from grace.audit._chain import AuditDraft, AuditEntry, Checkpoint, format_time
from grace.audit._export import export_checkpoints_jsonl, export_jsonl
from grace.audit._mirror import Mirror
from grace.audit._signing import SigningKey, check_key_files, load_or_create_key
from grace.audit._verify import Progress, VerifyReport, verify
from grace.errors import AuditError, StoreError
from grace.store import _audit_sql
from grace.types import Clock, SystemClock

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy import Engine

__all__ = ("DEFAULT_MIRROR", "AppendLatency", "AuditLog", "LatencySnapshot")

DEFAULT_MIRROR = Path("logs/immutable_audit.jsonl")
"""Where the mirror goes unless told otherwise."""


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """What :class:`AppendLatency` has seen, as a histogram."""

    bounds: tuple[float, ...]
    """Upper bounds of the buckets, seconds (a last, unbounded bucket follows)."""
    counts: tuple[int, ...]
    """Appends per bucket (not cumulative); one more than ``bounds``."""
    sum_s: float
    """Seconds of every append together."""


class AppendLatency:
    """How long each append took, from its first entry to the end of its commit (seconds).

    Observed with ``time.perf_counter`` around every commit this log makes (a group-commit
    batch, :meth:`AuditLog.append_now`), and reported by the store for the transactions that
    append next to a state change (:meth:`AuditLog.committed`); exported as
    ``grace_audit_append_seconds``. An observation costs a bisect and a lock; nothing is kept
    per append.
    """

    BOUNDS: tuple[float, ...] = (
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    )  # fmt: skip

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (len(self.BOUNDS) + 1)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one append that took ``seconds``."""
        slot = bisect_left(self.BOUNDS, seconds)
        with self._lock:
            self._counts[slot] += 1
            self._sum += seconds

    def snapshot(self) -> LatencySnapshot:
        """The histogram so far."""
        with self._lock:
            return LatencySnapshot(self.BOUNDS, tuple(self._counts), self._sum)


class _Batch:
    """Drafts that commit in one transaction, and how that ended. One event wakes them all."""

    __slots__ = ("done", "drafts", "entries", "error", "opened")

    def __init__(self, opened: float) -> None:
        self.opened = opened
        """When its first draft arrived (event-loop time)."""
        self.drafts: list[_audit_sql.PreparedDraft] = []
        self.done = anyio.Event()
        self.entries: list[AuditEntry] = []
        self.error: BaseException | None = None


class AuditLog:
    """The tamper-evident audit log of one Grace installation.

    Args:
        engine: the store's engine, migrated.
        data_dir: where the checkpoint signing key lives (created on first use, mode 0600).
            An existing key is checked here but loaded when first needed: see :attr:`key`.
        mirror_path: the grep-able JSONL mirror.
        checkpoint_every: sign a checkpoint once this many entries passed since the last one.
        clock: where entry times come from.
        flush_at: group commit flushes as soon as this many drafts are pending ...
        flush_after: ... or this many seconds after the oldest pending draft arrived.
        max_batch: at most this many entries per group-commit transaction.
        key: the signing key (default: load or create it in ``data_dir``).
    """

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        *,
        mirror_path: Path = DEFAULT_MIRROR,
        checkpoint_every: int = 1000,
        clock: Clock | None = None,
        flush_at: int = 100,
        flush_after: float = 0.005,
        max_batch: int = 1000,
        key: SigningKey | None = None,
    ) -> None:
        if checkpoint_every < 1 or flush_at < 1 or max_batch < flush_at or flush_after < 0:
            msg = (
                "need checkpoint_every >= 1, flush_at >= 1, max_batch >= flush_at and "
                f"flush_after >= 0 (got {checkpoint_every}, {flush_at}, {max_batch}, "
                f"{flush_after})"
            )
            raise ValueError(msg)
        self.engine = engine
        self._data_dir = data_dir
        self._key = key
        self._key_lock = threading.Lock()
        if key is None and not check_key_files(data_dir):
            self._key = load_or_create_key(data_dir)  # the first start writes the key and .pub
        self.mirror_path = mirror_path
        self.checkpoint_every = checkpoint_every
        self._clock = clock or SystemClock()
        self._flush_at = flush_at
        self._flush_after = flush_after
        self._max_batch = max_batch
        # Guards the mirror file and the checkpoint counters: the store calls committed()
        # from worker threads while the flusher runs in another.
        self._lock = threading.Lock()
        self._mirror = Mirror(mirror_path)
        self._ready = False
        self._ready_lock = threading.Lock()
        self._checkpointed_seq = 0
        self._batches: deque[_Batch] = deque()
        """Batches filling up or waiting for the flusher; the flusher takes the leftmost."""
        self._wake: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._state = "new"  # new → running → closed (the flusher's life)
        self._closing = False
        """Set by aclose(): refuse new drafts, flush what is pending, then stop."""
        self.append_latency = AppendLatency()
        """Seconds each append transaction took (the ``grace_audit_append_seconds`` metric)."""

    @property
    def key(self) -> SigningKey:
        """The checkpoint signing key, loaded on first use (a checkpoint, ``verify``).

        Loading it imports ``cryptography`` (~11 MB), which an idle daemon does without. What
        can be checked without it was checked when the log was made (:func:`check_key_files`);
        a ``.pub`` that belongs to another key is refused here, at the first checkpoint.

        Raises:
            ConfigError: the key cannot be used (see :func:`load_or_create_key`).
        """
        key = self._key
        if key is None:
            with self._key_lock:
                if self._key is None:
                    self._key = load_or_create_key(self._data_dir)
                key = self._key
        return key

    # ------------------------------------------------------------------ group commit

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AuditLog]:
        """Run the group-commit flusher for the duration of the block; drain it on exit."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.serve)
            try:
                yield self
            finally:
                with anyio.CancelScope(shield=True):
                    await self.aclose()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The flusher. Start it in a task group (``await tg.start(log.serve)``).

        Returns after :meth:`aclose`, once every pending draft is committed and a final
        checkpoint is signed.
        """
        if self._state != "new":
            msg = f"the audit log flusher can run once; this one is {self._state}"
            raise AuditError(msg)
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._state = "running"
        clean = False
        try:
            await anyio.to_thread.run_sync(self._ensure_ready)
            task_status.started()
            await self._flush_loop()
            await anyio.to_thread.run_sync(self.checkpoint)
            clean = True
        finally:
            self._state = "closed"
            if not clean:
                for batch in self._batches:
                    batch.error = AuditError("the audit log stopped before the batch committed")
                    batch.done.set()
                self._batches.clear()
            self._close_mirror()
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop taking drafts, commit the pending ones, sign a checkpoint, stop the flusher."""
        if self._state == "new":
            self._state = "closed"
            self._close_mirror()
            return
        self._closing = True
        self._wake_flusher()
        if self._stopped is not None:
            await self._stopped.wait()

    async def append(self, draft: AuditDraft) -> AuditEntry:
        """Append one entry through group commit; returns once its batch has committed.

        Raises:
            AuditError: the flusher is not running (see :meth:`running`).
            StoreError: the batch holding this entry failed to commit.
            TypeError, ValueError: the payload cannot be written as JSON.
        """
        if self._state != "running" or self._closing:
            raise AuditError(
                "the audit log is not accepting entries: run it with `async with log.running():`"
                if self._state == "new"
                else "the audit log is closed"
            )
        prepared = _audit_sql.prepare(draft)
        batches = self._batches
        if not batches or len(batches[-1].drafts) >= self._max_batch:
            batches.append(_Batch(anyio.current_time()))
            if len(batches) == 1:
                self._wake_flusher()
        batch = batches[-1]
        index = len(batch.drafts)
        batch.drafts.append(prepared)
        if index + 1 == self._flush_at and batch is batches[0]:
            self._wake_flusher()
        await batch.done.wait()
        if batch.error is not None:
            raise _batch_error(batch.error, len(batch.drafts))
        return batch.entries[index]

    def _wake_flusher(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _flush_loop(self) -> None:
        batches = self._batches
        while True:
            if not batches:
                if self._closing:
                    return
                await self._wait_wake()
                continue
            head = batches[0]
            if len(head.drafts) < self._flush_at and len(batches) == 1 and not self._closing:
                remaining = head.opened + self._flush_after - anyio.current_time()
                if remaining > 0:
                    with anyio.move_on_after(remaining):
                        await self._wait_wake()
                    continue
            batches.popleft()
            # Shielded: once a batch is taken, its callers hear how it ended.
            with anyio.CancelScope(shield=True):
                await self._flush(head)

    async def _wait_wake(self) -> None:
        assert self._wake is not None
        await self._wake.wait()
        self._wake = anyio.Event()

    async def _flush(self, batch: _Batch) -> None:
        try:
            batch.entries = await anyio.to_thread.run_sync(self._commit_batch, batch.drafts)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about any failure
            batch.error = exc
        batch.done.set()

    def _commit_batch(self, prepared: list[_audit_sql.PreparedDraft]) -> list[AuditEntry]:
        self._ensure_ready()
        now = self._clock.now()
        signed: Checkpoint | None = None
        began = time.perf_counter()
        with self.engine.begin() as conn:
            entries = _audit_sql.append_prepared(conn, prepared, now)
            last = entries[-1]
            with self._lock:
                due = last.seq - self._checkpointed_seq >= self.checkpoint_every
            if due:
                signed = self.key.sign(last.seq, last.hash, format_time(now))
                _audit_sql.insert_checkpoint(conn, signed)
        self.append_latency.observe(time.perf_counter() - began)
        self._record(entries, signed)
        return entries

    # ------------------------------------------------------------------ synchronous paths

    def append_now(self, drafts: Sequence[AuditDraft]) -> list[AuditEntry]:
        """Append ``drafts`` in one transaction of their own, now. Blocks; call from a thread."""
        prepared = [_audit_sql.prepare(d) for d in drafts]
        if not prepared:
            return []
        return self._commit_batch(prepared)

    def committed(self, entries: Sequence[AuditEntry], append_s: float | None = None) -> None:
        """Tell the log that a transaction which appended ``entries`` has committed.

        Writes them to the mirror and signs a checkpoint when one is due. Thread-safe.
        ``append_s``, when the caller measured it, is how long the append took, from its first
        entry to the end of the commit (:attr:`append_latency`).
        """
        if not entries:
            return
        if append_s is not None:
            self.append_latency.observe(append_s)
        self._ensure_ready()
        self._record(entries, None)
        newest = max(entries, key=lambda e: e.seq)
        with self._lock:
            due = newest.seq - self._checkpointed_seq >= self.checkpoint_every
            if due:  # claim it, so that concurrent callers do not all sign
                self._checkpointed_seq = newest.seq
        if due:
            signed = self.key.sign(newest.seq, newest.hash, format_time(self._clock.now()))
            with self.engine.begin() as conn:
                _audit_sql.insert_checkpoint(conn, signed)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head now; None when the log is empty or the head is signed."""
        with self.engine.begin() as conn:
            seq, digest = _audit_sql.head(conn)
            last = _audit_sql.last_checkpoint(conn)
            if seq == 0 or (last is not None and last.seq >= seq):
                return None
            signed = self.key.sign(seq, digest, format_time(self._clock.now()))
            _audit_sql.insert_checkpoint(conn, signed)
        with self._lock:
            self._checkpointed_seq = max(self._checkpointed_seq, seq)
        return signed

    def close(self) -> None:
        """Sign a final checkpoint and close the mirror (for users of the synchronous API)."""
        self.checkpoint()
        self._close_mirror()

    def verify(
        self,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        progress: Progress | None = None,
    ) -> VerifyReport:
        """:func:`~grace.audit.verify` this log, by default under this installation's key.

        An auditor who does not trust the data dir passes the public keys they kept.
        """
        keys = public_keys if public_keys is not None else {self.key.key_id: self.key.public_key}
        return verify(self.engine, public_keys=keys, progress=progress)

    def export(self, out: TextIO, from_seq: int = 1) -> int:
        """Write entries from ``from_seq`` on to ``out`` as JSONL; returns how many."""
        return export_jsonl(self.engine, out, from_seq)

    def export_checkpoints(self, out: TextIO) -> int:
        """Write every signed checkpoint to ``out`` as JSONL; returns how many."""
        return export_checkpoints_jsonl(self.engine, out)

    def sync_mirror(self) -> int:
        """Append to the mirror what the database holds past the mirror's last line.

        Called on first use (so also when the flusher starts): a crash between a commit and
        its mirror write leaves no hole, and a missing mirror is rebuilt in full. Returns how
        many lines it wrote.
        """
        with self._lock:
            return self._mirror.catch_up(self.engine)

    # ------------------------------------------------------------------ internals

    def _ensure_ready(self) -> None:
        """On first use: bring the mirror up to date and load the checkpoint counter."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self.sync_mirror()
            with self.engine.connect() as conn:
                last = _audit_sql.last_checkpoint(conn)
            with self._lock:
                signed = 0 if last is None else last.seq
                self._checkpointed_seq = max(self._checkpointed_seq, signed)
            self._ready = True

    def _record(self, entries: Sequence[AuditEntry], signed: Checkpoint | None) -> None:
        """After a commit: mirror the entries and move the checkpoint counter."""
        with self._lock:
            self._mirror.write(entries)
            if signed is not None:
                self._checkpointed_seq = max(self._checkpointed_seq, signed.seq)

    def _close_mirror(self) -> None:
        with self._lock:
            self._mirror.close()


def _batch_error(exc: BaseException, size: int) -> BaseException:
    """A fresh error per waiter (one instance raised in many tasks would tangle tracebacks)."""
    kind = AuditError if isinstance(exc, AuditError) else StoreError
    error = kind(f"the audit batch of {size} entries did not commit: {exc}")
    error.__cause__ = exc
    return error
