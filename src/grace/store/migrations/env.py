"""Alembic environment: Grace passes its own connection in; no alembic.ini needed."""

from __future__ import annotations

from alembic import context

from grace.store._tables import metadata

connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
