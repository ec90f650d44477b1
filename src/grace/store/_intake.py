"""The intake's own connection: each group commit of events without a pool checkout.

Every event the API receives goes through :meth:`grace.store.Store.insert_events` (the
pipeline's group commit). Checking a connection out of the pool for each batch, beginning
through SQLAlchemy and closing again cost about three times the INSERT itself; the writer
here keeps one connection open instead, for that one statement kind.

Guarantees are unchanged: each batch is one transaction, committed before the call returns
(SQLite: WAL and ``synchronous=FULL`` from the engine's connect hook; the write lock taken
up front with ``BEGIN IMMEDIATE`` as by every other writer, so the store's writers queue on
it and never deadlock); between batches the connection holds no transaction, so no lock and
no snapshot. Batches are written one at a time (a lock). A failed batch is rolled back and
the connection dropped; the next batch opens a new one. On PostgreSQL a connection found dead
by the batch's INSERT (the server restarted, the backend was terminated) is replaced and the
batch written again: nothing of it was committed. A COMMIT that fails is never repeated (it
may have taken effect): the error reaches the caller.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy import Dialect, Engine

__all__ = ("IntakeWriter",)

Rows = Sequence[tuple[Any, ...]]


class IntakeWriter:
    """Writes batches of event rows on one long-lived connection, one batch at a time."""

    def __init__(
        self,
        engine: Engine,
        *,
        sqlite: Callable[[Any, Dialect, Rows], list[bool]],
        generic: Callable[[Connection, Rows], list[bool]],
    ) -> None:
        self.engine = engine
        self._sqlite = sqlite
        self._generic = generic
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._release: weakref.finalize | None = None  # type: ignore[type-arg]

    def insert(self, rows: Rows) -> list[bool]:
        """Insert ``rows`` in one committed transaction; which were new."""
        with self._lock:
            if self.engine.dialect.name == "sqlite":
                return self._insert_sqlite(rows)
            return self._insert_generic(rows)

    def close(self) -> None:
        """Give the connection back (the next batch opens another)."""
        with self._lock:
            self._drop(invalidate=False)

    # -- internals ------------------------------------------------------------------------

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None:
            conn = self._conn = self.engine.connect()
            # A writer dropped without close() (a test's store) still returns its connection.
            self._release = weakref.finalize(self, conn.close)
            # Not at interpreter exit: a batch may still run on a daemon thread then (what it
            # committed is on disk; the OS closes the rest).
            self._release.atexit = False
        return conn

    def _drop(self, *, invalidate: bool) -> None:
        conn, self._conn = self._conn, None
        if self._release is not None:
            self._release.detach()
            self._release = None
        if conn is None:
            return
        try:
            if invalidate:
                conn.invalidate()
            conn.close()
        except Exception:  # noqa: BLE001, S110 - a broken connection: nothing left to release
            pass

    def _insert_sqlite(self, rows: Rows) -> list[bool]:
        # The DBAPI connection is in autocommit mode (the engine's connect hook): the
        # transaction is ours, begun as every writer begins one (_database._on_begin).
        dialect = self.engine.dialect
        dbapi = self._connection().connection.dbapi_connection
        assert dbapi is not None
        statement = "BEGIN IMMEDIATE"
        try:
            dbapi.execute(statement)
            try:
                fresh = self._sqlite(dbapi, dialect, rows)
                statement = "COMMIT"
                dbapi.execute(statement)
            except BaseException:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
                raise
        except dialect.loaded_dbapi.Error as exc:  # raised as SQLAlchemy raises it
            self._drop(invalidate=True)
            raise DBAPIError.instance(statement, (), exc, dialect.loaded_dbapi.Error) from exc
        except BaseException:
            self._drop(invalidate=True)
            raise
        return fresh

    def _insert_generic(self, rows: Rows) -> list[bool]:
        for attempt in (1, 2):
            conn = self._connection()
            trans = conn.begin()
            try:
                fresh = self._generic(conn, rows)
            except DBAPIError as exc:
                lost = exc.connection_invalidated
                self._drop(invalidate=True)
                if lost and attempt == 1:
                    continue  # a dead connection: nothing of the batch was committed
                raise
            except BaseException:
                self._drop(invalidate=True)
                raise
            try:
                trans.commit()
            except BaseException:
                self._drop(invalidate=True)
                raise
            return fresh
        raise AssertionError  # pragma: no cover - the loop returns or raises
