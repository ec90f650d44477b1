"""Engine fixtures: a real store (SQLite or PostgreSQL), real actions, playbooks written to tmp."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grace.config import Settings
from grace.engine import Engine


@pytest.fixture
def settings(tmp_path: Path, database_url: str, playbook_dir: Path) -> Settings:
    """Settings pointing everything at the test's tmp folder and database."""
    return Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        log_dir=tmp_path / "logs",
        bundled_playbooks=False,
    )


@pytest.fixture
def make_engine(settings: Settings) -> Iterator[Callable[[], Engine]]:
    """Build an engine after the test has written its playbooks; closed at teardown."""
    engines: list[Engine] = []

    def make() -> Engine:
        engine = Engine(settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()
