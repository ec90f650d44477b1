"""SQLAlchemy Core tables. Imported only by the store and its migrations: SQL never leaves store/.

Core ``Table`` objects rather than ORM classes: the store speaks SQL expressions and converts
rows to domain dataclasses itself, and not loading the ORM saves start-up time and memory.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = (
    "audit_checkpoints",
    "audit_head",
    "audit_log",
    "episodes",
    "events",
    "heartbeats",
    "metadata",
    "runs",
    "schedule_fires",
    "source_offsets",
    "step_attempts",
    "tickets",
)

metadata = MetaData()


def _when(name: str, *, nullable: bool = False, index: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable, index=index)


runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("playbook", String(200), nullable=False, index=True),
    Column("playbook_version", String(50), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("trigger", String(32), nullable=False),
    Column("event", JSON, nullable=False),
    Column("captures", JSON, nullable=False),
    Column("vars", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("service", String(200), nullable=False, default=""),
    Column("requested_by", String(200), nullable=False),
    Column("parent_run_id", String(64)),
    _when("created_at", index=True),
    _when("started_at", nullable=True),
    _when("finished_at", nullable=True),
    Column("fence", Integer, nullable=False, default=0),
    Column("lease_owner", String(200)),
    _when("lease_expires_at", nullable=True),
    Column("last_completed_step", String(200)),
    Column("error", Text),
    Column("dedupe_key", String(200), index=True),
)
Index("ix_runs_status_created", runs.c.status, runs.c.created_at)

step_attempts = Table(
    "step_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("step", String(200), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    _when("started_at"),
    _when("finished_at", nullable=True),
    Column("params", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("error", Text),
    UniqueConstraint("run_id", "phase", "idx", "attempt", name="uq_step_attempt"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(64), primary_key=True),
    _when("created_at"),
    Column("title", String(500), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("service", String(200), nullable=False, default=""),
    Column("run_id", String(64), index=True),
    Column("context", JSON, nullable=False),
    _when("closed_at", nullable=True),
)

# One chained entry. ``time`` is text so the exact hashed string survives any backend.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False, index=True),
    Column("subject", String(200), nullable=False, index=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# The chain head, one row (id=1). Locking it serializes appends, so commit order is chain order.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# An Ed25519 signature over the chain head at ``seq``.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(200), nullable=False),
)

# An ingested event. ``(source, event_key)`` is unique: a resent event is a no-op.
events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(300), nullable=False),
    Column("event_key", String(200), nullable=False),
    _when("time"),
    _when("received_at", index=True),
    Column("kind", String(32), nullable=False),
    Column("service", String(200), nullable=False, default="", index=True),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("fingerprint", String(32), nullable=False, index=True),
    UniqueConstraint("source", "event_key", name="uq_event_source_key"),
)

# Where a log source got to in a file (``file_key`` names the file: a rotated one has another).
source_offsets = Table(
    "source_offsets",
    metadata,
    Column("source_id", String(500), primary_key=True),
    Column("file_key", String(100), nullable=False),
    Column("offset", BigInteger, nullable=False),
    _when("updated_at"),
)

# One fire of one scheduled job; the key makes a duplicate fire a no-op.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("slot", String(40), primary_key=True),
    _when("fired_at"),
)

# The last ping of a component that proves it is alive by pinging.
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("name", String(200), primary_key=True),
    _when("last_seen"),
    Column("detail", JSON, nullable=False),
)

# A failure episode (an alert firing until resolved). Resolved episodes start nothing.
episodes = Table(
    "episodes",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("service", String(200), nullable=False, default=""),
    _when("started_at"),
    _when("updated_at"),
    _when("resolved_at", nullable=True),
)
