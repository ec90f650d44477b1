"""Fixtures for the supervisor tests: a harness whose services are killed at the end."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor_helpers import Harness

from grace.store import open_store
from grace.supervisor import read_state


@pytest.fixture
def harness(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    """A harness whose services are all killed at the end of the test."""
    store = open_store(database_url)
    h = Harness(store, tmp_path / ".grace", tmp_path / "logs")
    try:
        yield h
    finally:
        for path in (h.data_dir / "services").glob("*.json"):
            state = read_state(h.data_dir, path.stem)
            if state is not None and state.pid:
                with contextlib.suppress(OSError):
                    os.killpg(state.pid, signal.SIGKILL)
        store.close()
