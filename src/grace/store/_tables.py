"""SQLAlchemy tables. Imported only by the store and its migrations: the ORM never leaves store/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    playbook: Mapped[str] = mapped_column(String(200), index=True)
    playbook_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(32), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    event: Mapped[dict[str, Any]]
    captures: Mapped[dict[str, Any]]
    vars: Mapped[dict[str, Any]]
    outputs: Mapped[dict[str, Any]]
    dry_run: Mapped[bool]
    service: Mapped[str] = mapped_column(String(200), default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    parent_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    fence: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    last_completed_step: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), index=True)


class StepAttemptRow(Base):
    __tablename__ = "step_attempts"
    __table_args__ = (
        UniqueConstraint("run_id", "phase", "idx", "attempt", name="uq_step_attempt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(16))
    idx: Mapped[int]
    attempt: Mapped[int]
    action: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    params: Mapped[dict[str, Any]]
    outputs: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    service: Mapped[str] = mapped_column(String(200), default="")
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    context: Mapped[dict[str, Any]]
    closed_at: Mapped[datetime | None]


class AuditRow(Base):
    """One chained entry. ``time`` is text so the exact hashed string survives any backend."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain head, one row (id=1). Locking it serializes appends, so commit order is chain order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """An Ed25519 signature over the chain head at ``seq``."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


Index("ix_runs_status_created", RunRow.status, RunRow.created_at)


class EventRow(Base):
    """An ingested event. ``(source, event_key)`` is unique: a resent event is a no-op."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("source", "event_key", name="uq_event_source_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    event_key: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(200), default="", index=True)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]]
    fingerprint: Mapped[str] = mapped_column(String(32), index=True)


class SourceOffsetRow(Base):
    """Where a log source got to in a file, so a restart neither misses nor repeats a line."""

    __tablename__ = "source_offsets"

    source_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    file_key: Mapped[str] = mapped_column(String(100))
    """``dev:inode`` of the file the offset belongs to (a rotated file has another)."""
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class ScheduleFireRow(Base):
    """One fire of one scheduled job; the key makes a duplicate fire a no-op."""

    __tablename__ = "schedule_fires"

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)
    fired_at: Mapped[datetime]


class HeartbeatRow(Base):
    """The last ping of a component that proves it is alive by pinging."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime]
    detail: Mapped[dict[str, Any]]


class EpisodeRow(Base):
    """A failure episode (an alert firing until resolved). Resolved episodes start nothing."""

    __tablename__ = "episodes"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
