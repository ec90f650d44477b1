"""Opening the database: SQLite (WAL, synchronous=FULL) by default, PostgreSQL to scale out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from grace.errors import ConfigError, StoreError

__all__ = ("HEAD_REVISION", "create_db_engine", "is_sqlite", "migrate")

HEAD_REVISION = "0006"

READ_ONLY = "grace_read_only"
"""Connection info flag: this transaction only reads (SQLite begins it deferred)."""
_MIGRATIONS = Path(__file__).parent / "migrations"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created on first start.

    SQLite connections run with WAL, ``synchronous=FULL`` (an acknowledged write survives a power
    cut), a 30 s busy timeout, foreign keys on, and ``BEGIN IMMEDIATE`` so that a write
    transaction takes the write lock up front instead of failing half-way.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        msg = f"database URL {url!r} is not valid: {exc}"
        raise ConfigError(
            msg,
            hint="use sqlite:///path/grace.db or postgresql+psycopg://user@host/db",
        ) from exc
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        kwargs["poolclass"] = NullPool if parsed.database in (None, "", ":memory:") else None
        if kwargs["poolclass"] is None:
            del kwargs["poolclass"]
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine)
    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control (pysqlite's own is buggy).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writes take the lock up front; a read (marked by the store) must not: in WAL mode
        # readers and the writer do not block each other.
        conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY) else "BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it on first start).

    A database already at the newest revision costs one query: Alembic (slow to import) is only
    loaded when there is something to do.
    """
    try:
        if current_revision(engine) == HEAD_REVISION:
            return
    except OperationalError as exc:
        msg = f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        raise StoreError(msg) from exc
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        msg = f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        raise StoreError(msg) from exc


def current_revision(engine: Engine) -> str | None:
    """The schema revision in the database, or None before the first migration."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])
