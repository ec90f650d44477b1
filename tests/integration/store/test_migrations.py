"""The migrations build exactly the schema the code declares (no drift), on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from grace.store import create_db_engine, migrate
from grace.store._tables import metadata

# Declared only in its migration: a partial unique index (one open run per incident).
MIGRATION_ONLY_INDEXES = {"uq_runs_open_incident"}


def _relevant(diff: Any) -> bool:
    return not (
        isinstance(diff, tuple)
        and diff[0] == "remove_index"
        and diff[1].name in MIGRATION_ONLY_INDEXES
    )


def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    """Alembic's autogenerate finds nothing to add or remove after `migrate`."""
    engine = create_db_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            diffs = [
                d
                for d in compare_metadata(MigrationContext.configure(conn), metadata)
                if _relevant(d)
            ]
    finally:
        engine.dispose()
    assert diffs == []
