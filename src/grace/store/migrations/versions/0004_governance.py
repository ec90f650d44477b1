"""governance: approvals, silences, incident groups, controls, target locks; run columns

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD_ACTIVE = "status IN ('proposed', 'awaiting_approval', 'queued', 'running')"
_ACTIVE = (
    "status IN ('proposed', 'awaiting_approval', 'blocked_change_window', 'queued', 'running')"
)


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("severity", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("priority", sa.String(length=16), nullable=False, server_default="medium")
        )
        batch_op.add_column(
            sa.Column("risk_level", sa.String(length=16), nullable=False, server_default="low")
        )
        batch_op.add_column(
            sa.Column("suppressed", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(_when("expires_at", nullable=True))
        batch_op.add_column(
            sa.Column("approvals_needed", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_runs_idempotency_key", ["idempotency_key"])
        batch_op.create_index("ix_runs_service_status", ["service", "status"], unique=False)
    # The open-incident index now counts a run blocked by the change window as open.
    op.drop_index("uq_runs_open_incident", table_name="runs")
    op.create_index(
        "uq_runs_open_incident",
        "runs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("override_window", sa.Boolean(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "approver", name="uq_approval_run_approver"),
    )
    op.create_index("ix_approvals_run_id", "approvals", ["run_id"], unique=False)
    op.create_table(
        "silences",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"], unique=False)
    op.create_table(
        "incident_groups",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("playbook", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("throttle", sa.JSON(), nullable=False),
        sa.Column("held_event", sa.JSON(), nullable=True),
        _when("circuit_open_until", nullable=True),
        sa.Column("circuit_ticket_id", sa.String(length=64), nullable=True),
        _when("attempts_since", nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "controls",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        _when("set_at"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "target_locks",
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        _when("expires_at"),
        sa.PrimaryKeyConstraint("target"),
    )


def downgrade() -> None:
    op.drop_table("target_locks")
    op.drop_table("controls")
    op.drop_table("incident_groups")
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_approvals_run_id", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("uq_runs_open_incident", table_name="runs")
    op.create_index(
        "uq_runs_open_incident",
        "runs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text(_OLD_ACTIVE),
        postgresql_where=sa.text(_OLD_ACTIVE),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_service_status")
        batch_op.drop_constraint("uq_runs_idempotency_key", type_="unique")
        for name in (
            "idempotency_key",
            "approvals_needed",
            "expires_at",
            "suppressed",
            "risk_level",
            "priority",
            "severity",
        ):
            batch_op.drop_column(name)
