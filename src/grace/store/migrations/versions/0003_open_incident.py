"""one open run per incident: a partial unique index on runs.dedupe_key

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('proposed', 'awaiting_approval', 'queued', 'running')"


def upgrade() -> None:
    op.create_index(
        "uq_runs_open_incident",
        "runs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_runs_open_incident", table_name="runs")
