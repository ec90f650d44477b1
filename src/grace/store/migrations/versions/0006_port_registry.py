"""port registry (which service owns which port)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ports",
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("create_time", sa.Float(), nullable=True),
        _when("claimed_at"),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        _when("last_seen_at", nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("port", "protocol"),
    )
    op.create_index("ix_ports_service", "ports", ["service"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ports_service", table_name="ports")
    op.drop_table("ports")
