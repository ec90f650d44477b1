"""Ingestion records: events (idempotent), log offsets, schedule fires, heartbeats, episodes.

All coordination state lives in rows, never in a process's memory, so a restart (or, later,
a second node) picks up exactly where the last one stopped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Table, select, update
from sqlalchemy.exc import DBAPIError

from grace.events import Event
from grace.store._convert import aware, utc
from grace.store._intake import IntakeWriter
from grace.store._reads import Reads
from grace.store._tables import episodes as _episodes
from grace.store._tables import events as _events
from grace.store._tables import heartbeats as _beats
from grace.store._tables import schedule_fires as _fires
from grace.store._tables import source_offsets as _offsets

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from grace.types import Clock

__all__ = ("IngestRecords", "RecordedEvent")


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite never loads the PostgreSQL one)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the store holds it: the event, when it arrived, its fingerprint."""

    event: Event
    received_at: datetime
    fingerprint: str


def _filtered(query: Any, service: str | None, kind: str | None, since: datetime | None) -> Any:
    if service is not None:
        query = query.where(_events.c.service == service)
    if kind is not None:
        query = query.where(_events.c.kind == kind)
    if since is not None:
        query = query.where(_events.c.received_at >= since)
    return query


def intake_writer(engine: Engine) -> IntakeWriter:
    """The writer :meth:`IngestRecords.insert_events` uses (no connection until the first batch)."""
    return IntakeWriter(engine, sqlite=_insert_rows_sqlite, generic=_insert_rows)


class IngestRecords(Reads):
    """The store's ingestion side (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock
    _intake: IntakeWriter

    def insert_event(self, event: Event, *, event_key: str | None = None) -> bool:
        """Record an event once: False when ``(source, event_key)`` was already recorded.

        ``event_key`` defaults to the event's id; sources that can resend (the SDK's spool, a
        webhook retry) give a stable key so a resend is a no-op.
        """
        return self.insert_events([(event, event_key)])[0]

    def insert_events(self, batch: Sequence[tuple[Event, str | None]]) -> list[bool]:
        """:meth:`insert_event` for a batch, in one transaction (one commit for a burst).

        Written on the intake's own connection (:class:`grace.store._intake.IntakeWriter`),
        one batch at a time, committed before this returns.
        """
        now = self.clock.now()
        rows = [
            (
                _clean(event.id),
                _clean(event.source),
                _clean(event_key or event.id),
                # In UTC: SQLite keeps the wall time and drops the offset (read back as UTC).
                event.time.astimezone(UTC) if event.time.tzinfo is not None else event.time,
                now,
                event.kind,
                _clean(event.service),
                event.severity,
                _clean(event.message),
                _jsonable(event.attributes) if event.attributes else {},
                event.fingerprint(),
            )
            for event, event_key in batch
        ]
        if not rows:
            return []
        return self._intake.insert(rows)

    def count_events(
        self, *, service: str | None = None, kind: str | None = None, since: datetime | None = None
    ) -> int:
        """How many events were recorded (of ``service``, of ``kind``, received since ``since``)."""
        from sqlalchemy import func

        query = _filtered(select(func.count()).select_from(_events), service, kind, since)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def recent_events(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        service: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Events as received, newest first (filtered like :meth:`count_events`)."""
        query = _filtered(select(_events), service, kind, since)
        query = query.order_by(_events.c.received_at.desc(), _events.c.id.desc())
        with self._read() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [
            RecordedEvent(
                event=Event(
                    id=r.id,
                    time=utc(r.time),
                    source=r.source,
                    kind=r.kind,
                    service=r.service,
                    severity=r.severity,
                    message=r.message,
                    attributes=dict(r.attributes or {}),
                ),
                received_at=utc(r.received_at),
                fingerprint=r.fingerprint,
            )
            for r in rows
        ]

    def get_offset(self, source_id: str) -> tuple[str, int] | None:
        """``(file_key, offset)`` saved for a log source, or None."""
        with self._read() as conn:
            row = conn.execute(
                select(_offsets.c.file_key, _offsets.c.offset).where(
                    _offsets.c.source_id == source_id
                )
            ).first()
        return None if row is None else (str(row[0]), int(row[1]))

    def save_offset(self, source_id: str, file_key: str, offset: int) -> None:
        """Remember how far a log source has read ``file_key``."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            stmt = _insert(conn, _offsets).values(
                source_id=source_id, file_key=file_key, offset=offset, updated_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["source_id"],
                set_={"file_key": file_key, "offset": offset, "updated_at": now},
            )
            conn.execute(stmt)

    def record_fire(self, job: str, slot: str) -> bool:
        """Claim one scheduled fire: False when this (job, slot) already fired."""
        with self.engine.begin() as conn:
            stmt = (
                _insert(conn, _fires)
                .values(job=job, slot=slot, fired_at=self.clock.now())
                .on_conflict_do_nothing()
                .returning(_fires.c.job)
            )
            return conn.execute(stmt).first() is not None

    def beat(self, name: str, *, detail: dict[str, Any] | None = None) -> datetime:
        """Record a heartbeat ping now; returns its time."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            stmt = _insert(conn, _beats).values(name=name, last_seen=now, detail=detail or {})
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"], set_={"last_seen": now, "detail": detail or {}}
            )
            conn.execute(stmt)
        return now

    def last_beats(self) -> dict[str, datetime]:
        """Every heartbeat's last ping."""
        with self._read() as conn:
            rows = conn.execute(select(_beats.c.name, _beats.c.last_seen)).all()
        return {str(r[0]): cast(datetime, aware(r[1])) for r in rows}

    def open_episode(self, key: str, *, service: str = "") -> bool:
        """Mark an episode firing; True when it was not already firing."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(_episodes.c.status).where(_episodes.c.key == key).with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    _episodes.insert().values(
                        key=key,
                        status="firing",
                        service=service,
                        started_at=now,
                        updated_at=now,
                        resolved_at=None,
                    )
                )
                return True
            conn.execute(
                update(_episodes)
                .where(_episodes.c.key == key)
                .values(status="firing", updated_at=now, resolved_at=None)
            )
            return bool(row[0] != "firing")

    def resolve_episode(self, key: str) -> bool:
        """Mark an episode resolved; True when it was firing."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(_episodes)
                .where(_episodes.c.key == key, _episodes.c.status == "firing")
                .values(status="resolved", updated_at=now, resolved_at=now)
            )
            return bool(result.rowcount)

    def episode_status(self, key: str) -> str | None:
        """``firing``, ``resolved``, or None for an unknown episode."""
        with self._read() as conn:
            row = conn.execute(select(_episodes.c.status).where(_episodes.c.key == key)).first()
        return None if row is None else str(row[0])


_EVENT_COLUMNS = (
    "id",
    "source",
    "event_key",
    "time",
    "received_at",
    "kind",
    "service",
    "severity",
    "message",
    "attributes",
    "fingerprint",
)


@functools.cache
def _sqlite_insert(dialect: Dialect) -> tuple[str, tuple[Callable[[Any], Any] | None, ...]]:
    """The events INSERT as SQLite text, and each column's bind processor (its storage form)."""
    columns = [_events.c[name] for name in _EVENT_COLUMNS]
    sql = (
        f"INSERT INTO {_events.name} ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608 - constant names
        f"VALUES ({', '.join('?' for _ in columns)}) ON CONFLICT DO NOTHING"
    )
    return sql, tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns)


def _insert_rows(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[bool]:
    """Insert ``rows`` (in :data:`_EVENT_COLUMNS` order) in the caller's transaction; which
    ones were new (the generic path: PostgreSQL)."""
    # One statement for the batch (insertmanyvalues); RETURNING names the rows that were new,
    # since rowcount is not reliable for ON CONFLICT with every driver.
    stmt = _insert(conn, _events).on_conflict_do_nothing().returning(_events.c.id)
    params = [dict(zip(_EVENT_COLUMNS, row, strict=True)) for row in rows]
    inserted = {r[0] for r in conn.execute(stmt, params).all()}
    fresh: list[bool] = []
    for row in rows:  # two events of one batch with the same id: only the first is new
        fresh.append(row[0] in inserted)
        inserted.discard(row[0])
    return fresh


def _insert_rows_sqlite(
    dbapi: Any, dialect: Dialect, rows: Sequence[tuple[Any, ...]]
) -> list[bool]:
    """Insert ``rows`` (in :data:`_EVENT_COLUMNS` order) on SQLite; which ones were new.

    The intake's hot path (every event the API receives): one prepared single-row INSERT per
    event on the driver's cursor, inside the caller's transaction, with the values converted
    by the columns' own SQLAlchemy bind processors (rows identical to the generic path).
    SQLite's change count says exactly whether each row was inserted (0 on a conflict, also
    with an earlier row of the same batch). About 4x less CPU per event than a Core
    ``insertmanyvalues`` statement with RETURNING (docs/BENCHMARKS.md, "HTTP intake").
    """
    sql, processors = _sqlite_insert(dialect)
    convert = [(i, p) for i, p in enumerate(processors) if p is not None]
    cursor = dbapi.cursor()
    fresh: list[bool] = []
    values: list[Any] = []
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        for row in rows:
            values = list(row)
            for i, process in convert:
                values[i] = process(values[i])
            cursor.execute(sql, values)
            fresh.append(cursor.rowcount == 1)
    except dbapi_error as exc:  # raised as SQLAlchemy raises it (IntegrityError, …)
        raise DBAPIError.instance(sql, values, exc, dbapi_error) from exc
    finally:
        cursor.close()
    return fresh


def _clean(text: str) -> str:
    """``text`` as every database stores it: NUL characters and lone surrogates (which
    PostgreSQL and UTF-8 refuse) become U+FFFD. An event is a signal: a stray byte in a log
    line must not cost the line."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    import json

    dumped = json.dumps(value, default=str)
    if "\\u0000" in dumped or "\\ud" in dumped:  # a NUL or a surrogate somewhere: rare
        return _cleaned(json.loads(dumped))
    return json.loads(dumped)
