"""Fixtures for the audit integration tests: a migrated database, SQLite and PostgreSQL.

``db_engine`` runs each test on a fresh SQLite file and, when ``GRACE_TEST_DATABASE_URL`` is
set, again on PostgreSQL in a schema of its own (dropped afterwards). Without the variable the
PostgreSQL run is skipped, unless ``GRACE_REQUIRE_ALL=1`` makes that a failure.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from grace.store._database import create_db_engine, migrate

Tamper = Callable[[str], None]
"""Runs raw SQL statements (``;``-separated) on the test database, behind Grace's back."""


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the engine."""
    return "asyncio"


def _postgres_url() -> str:
    url = os.environ.get("GRACE_TEST_DATABASE_URL")
    if url:
        return url
    reason = (
        "GRACE_TEST_DATABASE_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
    )
    if os.environ.get("GRACE_REQUIRE_ALL") == "1":
        pytest.fail(f"GRACE_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated engine on a fresh database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'grace.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    url = make_url(_postgres_url())
    schema = f"g_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        engine = create_db_engine(scoped.render_as_string(hide_password=False))
        migrate(engine)
        yield engine
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def tamper(db_engine: Engine) -> Tamper:
    """Raw SQL on the database, outside SQLAlchemy: ``sqlite3`` on the file, or psycopg."""

    def run(script: str) -> None:
        if db_engine.dialect.name == "sqlite":
            conn = sqlite3.connect(str(db_engine.url.database), isolation_level=None)
            try:
                conn.executescript(script)
            finally:
                conn.close()
            return
        raw = db_engine.raw_connection()
        try:
            # No parameters: psycopg sends the whole script in one simple query.
            raw.cursor().execute(script)
            raw.commit()
        finally:
            raw.close()

    return run
