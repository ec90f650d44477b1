"""Reads that can share one connection for a batch of decisions.

Each read normally checks a connection out of the pool (on PostgreSQL that is a ping, a
BEGIN and a ROLLBACK besides the query). Inside :meth:`Reads.reading` the reads of one thread
share a connection; each still ends its own transaction, so it sees what others committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from grace.store._database import READ_ONLY

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ("Reads",)


class Reads:
    """The read side every store mixin uses."""

    engine: Engine
    _local: threading.local

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Let this thread's reads share one connection until the block ends.

        On SQLite the reads also share one read transaction (one consistent snapshot) until
        :meth:`fresh_reads` ends it; on PostgreSQL each read is its own statement (autocommit).
        """
        local = self._local
        if getattr(local, "conn", None) is not None:  # already inside a batch
            yield
            return
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Each read is one statement: no BEGIN/ROLLBACK round trips around it.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            local.conn = conn
            try:
                yield
            finally:
                local.conn = None
                conn.rollback()
                conn.info.pop(READ_ONLY, None)  # the DBAPI connection goes back to the pool

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self.engine.connect() as fresh:
                fresh.info[READ_ONLY] = True
                try:
                    yield fresh
                finally:
                    fresh.rollback()
                    fresh.info.pop(READ_ONLY, None)  # the DBAPI connection goes back to the pool
            return
        conn.info[READ_ONLY] = True
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise

    def fresh_reads(self) -> None:
        """End the shared read transaction: the next read sees everything committed since."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.rollback()
