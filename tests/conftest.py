"""Fixtures shared by the whole suite: databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis  # noqa: F401 - imported up front: CPython 3.11's ast.parse is not thread-safe
import pytest

POSTGRES_URL_VAR = "GRACE_TEST_DATABASE_URL"


def require_all() -> bool:
    """In CI (GRACE_REQUIRE_ALL=1) a missing dependency fails the test instead of skipping it."""
    return os.environ.get("GRACE_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` locally; fail in CI, where everything must be installed."""
    if require_all():
        pytest.fail(f"{reason} (GRACE_REQUIRE_ALL=1: CI must provide it)")
    pytest.skip(reason)


@pytest.fixture
def anyio_backend() -> str:
    """Grace runs on asyncio (FastAPI, uvicorn and SQLAlchemy need it)."""
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'grace.db'}"
        return
    base = os.environ.get(POSTGRES_URL_VAR)
    if not base:
        skip_or_fail(
            f"PostgreSQL tests need {POSTGRES_URL_VAR} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    from sqlalchemy import create_engine, text

    schema = f"g_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    """An empty folder for the test's playbooks."""
    d = tmp_path / "playbooks"
    d.mkdir()
    return d


@pytest.fixture
def write_playbook(playbook_dir: Path) -> Callable[[str, str], Path]:
    """Write ``text`` (dedented) as ``<name>.yaml`` in the test's playbook folder."""

    def write(name: str, text: str) -> Path:
        path = playbook_dir / f"{name}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
