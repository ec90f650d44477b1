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
    Float,
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
    "api_tokens",
    "approvals",
    "audit_checkpoints",
    "audit_head",
    "audit_log",
    "controls",
    "episodes",
    "events",
    "heartbeats",
    "incident_groups",
    "metadata",
    "ports",
    "runs",
    "schedule_fires",
    "silences",
    "source_offsets",
    "step_attempts",
    "target_locks",
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
    Column("severity", String(16), nullable=False, default=""),
    Column("priority", String(16), nullable=False, default="medium"),
    Column("risk_level", String(16), nullable=False, default="low"),
    Column("suppressed", Integer, nullable=False, default=0),
    _when("expires_at", nullable=True),
    Column("approvals_needed", Integer, nullable=False, default=0),
    Column("idempotency_key", String(200), unique=True),
)
Index("ix_runs_status_created", runs.c.status, runs.c.created_at)
Index("ix_runs_service_status", runs.c.service, runs.c.status)

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

# -- governance (0004) -----------------------------------------------------------------------

# One row per human verdict on a pending run: approvals count toward the quorum.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id"), nullable=False, index=True),
    Column("approver", String(200), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("override_window", Boolean, nullable=False, default=False),
    _when("created_at"),
    UniqueConstraint("run_id", "approver", name="uq_approval_run_approver"),
)

# Operator silences (Alertmanager's model): matchers over a diagnosis's labels, for a time.
silences = Table(
    "silences",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("matchers", JSON, nullable=False),
    _when("starts_at"),
    _when("ends_at", index=True),
    Column("author", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    _when("created_at"),
)

# Per incident group (playbook:signature): throttle state, suppressed repeats, the circuit.
incident_groups = Table(
    "incident_groups",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("playbook", String(200), nullable=False),
    Column("service", String(200), nullable=False, default=""),
    Column("suppressed", Integer, nullable=False, default=0),
    Column("throttle", JSON, nullable=False),
    Column("held_event", JSON),
    _when("circuit_open_until", nullable=True),
    Column("circuit_ticket_id", String(64)),
    _when("attempts_since", nullable=True),
    _when("updated_at"),
)

# Global switches that must be seen by every process and node (the emergency stop).
controls = Table(
    "controls",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("set_by", String(200), nullable=False),
    _when("set_at"),
)

# One run per target at a time: taken when a run is claimed, released when it ends.
target_locks = Table(
    "target_locks",
    metadata,
    Column("target", String(200), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("owner", String(200), nullable=False),
    _when("expires_at"),
)

# API tokens: only the SHA-256 of each secret is kept (grace.tokens).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    _when("created_at"),
    Column("created_by", String(200), nullable=False),
    _when("expires_at", nullable=True),
    _when("revoked_at", nullable=True),
    _when("last_used_at", nullable=True),
)

# The port inventory (grace.ports): which service owns which port, and since when.
ports = Table(
    "ports",
    metadata,
    Column("port", Integer, primary_key=True),
    Column("protocol", String(8), primary_key=True),
    Column("service", String(200), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("pid", Integer),
    Column("create_time", Float),
    _when("claimed_at"),
    Column("claimed_by", String(200), nullable=False),
    _when("last_seen_at", nullable=True),
    Column("revision", Integer, nullable=False, default=0),
)
