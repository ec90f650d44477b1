"""Fixtures for the healer watchdog tests: a serve/watchdog pair killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog_helpers import Pair, write_config

from grace.store import open_store


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[Pair]:
    """A config for one ``grace serve`` / ``grace watchdog`` pair; all its processes die after."""
    config = write_config(tmp_path, database_url)
    store = open_store(database_url)
    p = Pair(config, tmp_path / ".grace", store)
    try:
        yield p
    finally:
        p.kill_all()
        store.close()
