"""Ingestion records: events (idempotent), log offsets, schedule fires, heartbeats, episodes.

All coordination state lives in rows, never in a process's memory, so a restart (or, later,
a second node) picks up exactly where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, select, update

from grace.events import Event
from grace.store._convert import aware
from grace.store._reads import Reads
from grace.store._tables import episodes as _episodes
from grace.store._tables import events as _events
from grace.store._tables import heartbeats as _beats
from grace.store._tables import schedule_fires as _fires
from grace.store._tables import source_offsets as _offsets

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from grace.types import Clock

__all__ = ("IngestRecords",)


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite never loads the PostgreSQL one)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class IngestRecords(Reads):
    """The store's ingestion side (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock

    def insert_event(self, event: Event, *, event_key: str | None = None) -> bool:
        """Record an event once: False when ``(source, event_key)`` was already recorded.

        ``event_key`` defaults to the event's id; sources that can resend (the SDK's spool, a
        webhook retry) give a stable key so a resend is a no-op.
        """
        return self.insert_events([(event, event_key)])[0]

    def insert_events(self, batch: Sequence[tuple[Event, str | None]]) -> list[bool]:
        """:meth:`insert_event` for a batch, in one transaction (one commit for a burst)."""
        now = self.clock.now()
        rows = [
            {
                "id": event.id,
                "source": event.source,
                "event_key": event_key or event.id,
                "time": event.time,
                "received_at": now,
                "kind": event.kind,
                "service": event.service,
                "severity": event.severity,
                "message": event.message,
                "attributes": _jsonable(event.attributes),
                "fingerprint": event.fingerprint(),
            }
            for event, event_key in batch
        ]
        with self.engine.begin() as conn:
            # One statement for the batch (insertmanyvalues); RETURNING names the rows that
            # were new, since rowcount is not reliable for ON CONFLICT with every driver.
            stmt = _insert(conn, _events).on_conflict_do_nothing().returning(_events.c.id)
            inserted = {r[0] for r in conn.execute(stmt, rows).all()} if rows else set()
        fresh: list[bool] = []
        for row in rows:  # two events of one batch with the same id: only the first is new
            fresh.append(row["id"] in inserted)
            inserted.discard(row["id"])
        return fresh

    def count_events(self) -> int:
        """How many events were recorded."""
        from sqlalchemy import func

        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(_events)).scalar_one())

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


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
