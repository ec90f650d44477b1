"""SQL for the audit chain: link and append, read back, checkpoints. SQLAlchemy Core only.

Appends run inside the caller's transaction, so a state change and its audit record commit
together. The head row (``audit_head``, id 1) is read ``FOR UPDATE`` first: on PostgreSQL
that serializes appenders, on SQLite ``BEGIN IMMEDIATE`` already holds the write lock. Either
way commit order is chain order.

Reads that must be fast (``verify`` over a million rows) go through :func:`snapshot`, which
holds one read snapshot on a raw DBAPI connection and pages through the rows as plain tuples,
without taking SQLite's write lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from grace.audit._chain import (
    GENESIS,
    AuditDraft,
    AuditEntry,
    Checkpoint,
    canonical_payload,
    format_time,
    link,
)
from grace.errors import AuditError
from grace.store._tables import audit_checkpoints as _cps
from grace.store._tables import audit_head as _head
from grace.store._tables import audit_log as _log

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = (
    "COLUMNS",
    "AuditSnapshot",
    "PreparedDraft",
    "append_entries",
    "append_prepared",
    "count",
    "head",
    "insert_checkpoint",
    "iter_entries",
    "iter_pages",
    "last_checkpoint",
    "list_checkpoints",
    "prepare",
    "snapshot",
)


COLUMNS = ("seq", "time", "actor", "action", "subject", "payload", "prev_hash", "hash")
"""Column order of the raw tuples :func:`iter_pages` yields (the :class:`AuditEntry` order)."""

PreparedDraft = tuple[str, str, str, str]
"""``(actor, action, subject, payload_json)``: a draft whose payload is already canonical."""

_HEAD_ID = 1

# Raw SQL for the hot paths, written for qmark and adapted to psycopg's %s by _sql().
_PAGE_SQL = (
    "SELECT seq, time, actor, action, subject, payload, prev_hash, hash FROM audit_log "
    "WHERE seq >= ? ORDER BY seq LIMIT ?"
)
_HEAD_SQL = "SELECT seq, hash FROM audit_head WHERE id = ?"
_SET_HEAD_SQL = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = ?"
_INSERT_SQL = (
    "INSERT INTO audit_log (seq, time, actor, action, subject, payload, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHECKPOINTS_SQL = (
    "SELECT seq, hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq"
)


def _sql(text: str, paramstyle: str) -> str:
    return text if paramstyle == "qmark" else text.replace("?", "%s")


_LIMITS = (("actor", 200), ("action", 100), ("subject", 200))


def prepare(draft: AuditDraft) -> PreparedDraft:
    """Check a draft and canonicalize its payload, before it joins anyone's batch.

    Everything the database could refuse later is refused here, so that one bad draft fails
    only its own caller, never a whole group-commit batch.

    Raises:
        TypeError: a field is not a string, or the payload holds keys that cannot be sorted.
        ValueError: a field is too long or holds a NUL, or text is not valid Unicode.
    """
    for name, limit in _LIMITS:
        value = getattr(draft, name)
        if not isinstance(value, str):
            msg = f"audit {name} must be a string, not {type(value).__name__}"
            raise TypeError(msg)
        if len(value) > limit or "\x00" in value:
            msg = f"audit {name} {value[:40]!r}… must be at most {limit} characters without NUL"
            raise ValueError(msg)
    payload_json = canonical_payload(draft.payload)
    try:
        (draft.actor + draft.action + draft.subject + payload_json).encode()
    except UnicodeEncodeError as exc:
        msg = f"audit draft {draft.action!r} holds text that is not valid Unicode: {exc}"
        raise ValueError(msg) from exc
    return (draft.actor, draft.action, draft.subject, payload_json)


def append_entries(
    conn: Connection, drafts: Sequence[AuditDraft], now: datetime
) -> list[AuditEntry]:
    """Chain ``drafts`` after the head and insert them, inside the caller's transaction.

    All entries get the time ``now``; they are durable only once the caller commits.
    """
    return append_prepared(conn, [prepare(d) for d in drafts], now)


def append_prepared(
    conn: Connection, drafts: Sequence[PreparedDraft], now: datetime
) -> list[AuditEntry]:
    """:func:`append_entries` for drafts already passed through :func:`prepare`."""
    if not drafts:
        return []
    seq, prev = _lock_head(conn)
    time = format_time(now)
    rows = []
    for actor, action, subject, payload_json in drafts:
        seq += 1
        digest = link(prev, seq, time, actor, action, subject, payload_json)
        rows.append((seq, time, actor, action, subject, payload_json, prev, digest))
        prev = digest
    # Plain tuples straight to the driver's executemany: a few µs per row less than Core.
    conn.exec_driver_sql(_sql(_INSERT_SQL, conn.dialect.paramstyle), rows)
    conn.exec_driver_sql(_sql(_SET_HEAD_SQL, conn.dialect.paramstyle), (seq, prev, _HEAD_ID))
    return [AuditEntry(*row) for row in rows]


def _lock_head(conn: Connection) -> tuple[int, str]:
    paramstyle = conn.dialect.paramstyle
    # SQLite has no FOR UPDATE: its BEGIN IMMEDIATE already holds the database's write lock.
    lock = _HEAD_SQL if conn.dialect.name == "sqlite" else _HEAD_SQL + " FOR UPDATE"
    sql = _sql(lock, paramstyle)
    row = conn.exec_driver_sql(sql, (_HEAD_ID,)).first()
    if row is None:
        # First append ever. Two PostgreSQL writers can both get here: the second one's insert
        # waits for the first one's commit and then does nothing, and its FOR UPDATE read
        # sees the head the first one left.
        conn.execute(_insert_ignore(conn, _head).values(id=_HEAD_ID, seq=0, hash=GENESIS))
        row = conn.exec_driver_sql(sql, (_HEAD_ID,)).one()
    seq, digest = int(row[0]), str(row[1])
    if seq == 0:
        last = conn.execute(select(func.max(_log.c.seq))).scalar()
        if last is not None:
            msg = (
                f"the audit_head row is missing or reset but audit_log holds entries up to seq "
                f"{last}: new entries cannot be linked to the chain (run `grace audit verify`, "
                "and restore audit_head from a backup)"
            )
            raise AuditError(msg)
    return seq, digest


def _insert_ignore(conn: Connection, table: Any) -> Any:
    dialect = conn.dialect.name
    # Each dialect module is imported where used: SQLite never loads the PostgreSQL one.
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    msg = f"the audit log supports SQLite and PostgreSQL, not {dialect}"
    raise AuditError(msg)


def head(conn: Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the chain head; ``(0, GENESIS)`` before the first entry."""
    row = conn.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == _HEAD_ID)).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def count(conn: Connection) -> int:
    """How many entries ``audit_log`` holds."""
    return int(conn.execute(select(func.count()).select_from(_log)).scalar_one())


def iter_pages(conn: Connection, from_seq: int = 1, batch: int = 10_000) -> Iterator[Sequence[Any]]:
    """Rows from ``from_seq`` on, in seq order, as pages of plain tuples (:data:`COLUMNS`).

    Keyset pagination (``seq >= ? ORDER BY seq LIMIT ?``): memory stays bounded and each page
    is one index range scan, however long the log.
    """
    sql = _sql(_PAGE_SQL, conn.dialect.paramstyle)
    while True:
        page = conn.exec_driver_sql(sql, (from_seq, batch)).fetchall()
        if not page:
            return
        yield page
        if len(page) < batch:
            return
        from_seq = int(page[-1][0]) + 1


def iter_entries(conn: Connection, from_seq: int = 1, batch: int = 10_000) -> Iterator[AuditEntry]:
    """Entries from ``from_seq`` on, in seq order, streamed page by page."""
    for page in iter_pages(conn, from_seq, batch):
        for row in page:
            yield AuditEntry(*row)


def insert_checkpoint(conn: Connection, checkpoint: Checkpoint) -> bool:
    """Store a signed checkpoint; False if one already exists at that seq (it is kept)."""
    stmt = _insert_ignore(conn, _cps).values(
        seq=checkpoint.seq,
        hash=checkpoint.hash,
        signed_at=checkpoint.signed_at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
    )
    return bool(conn.execute(stmt).rowcount)


_CP_COLUMNS = (_cps.c.seq, _cps.c.hash, _cps.c.signed_at, _cps.c.key_id, _cps.c.signature)


def list_checkpoints(conn: Connection, from_seq: int = 0) -> list[Checkpoint]:
    """Checkpoints at or after ``from_seq``, in seq order."""
    query = select(*_CP_COLUMNS).where(_cps.c.seq >= from_seq).order_by(_cps.c.seq)
    return [Checkpoint(*row) for row in conn.execute(query)]


def last_checkpoint(conn: Connection) -> Checkpoint | None:
    """The newest checkpoint, or None."""
    row = conn.execute(select(*_CP_COLUMNS).order_by(_cps.c.seq.desc()).limit(1)).first()
    return None if row is None else Checkpoint(*row)


class AuditSnapshot:
    """One consistent, read-only view of the audit tables (see :func:`snapshot`)."""

    def __init__(self, cursor: Any, paramstyle: str) -> None:
        self._cur = cursor
        self._paramstyle = paramstyle

    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the head row, or None when the row is missing."""
        self._cur.execute(_sql(_HEAD_SQL, self._paramstyle), (_HEAD_ID,))
        row = self._cur.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, in seq order."""
        self._cur.execute(_CHECKPOINTS_SQL)
        return [Checkpoint(*row) for row in self._cur.fetchall()]

    def pages(self, from_seq: int = 1, batch: int = 2_000) -> Iterator[Sequence[Any]]:
        """Like :func:`iter_pages`, on the snapshot's cursor."""
        sql = _sql(_PAGE_SQL, self._paramstyle)
        cur = self._cur
        while True:
            cur.execute(sql, (from_seq, batch))
            page = cur.fetchall()
            if not page:
                return
            yield page
            if len(page) < batch:
                return
            from_seq = int(page[-1][0]) + 1


@contextmanager
def snapshot(engine: Engine) -> Iterator[AuditSnapshot]:
    """A read-only snapshot of the audit tables that does not block writers.

    SQLite: a deferred ``BEGIN`` on a raw connection (WAL readers never take the write lock,
    unlike the store's ``BEGIN IMMEDIATE``). PostgreSQL: a ``REPEATABLE READ, READ ONLY``
    transaction.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("BEGIN")
        else:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            yield AuditSnapshot(cur, engine.dialect.paramstyle)
        finally:
            cur.close()
            raw.rollback()
    finally:
        raw.close()
