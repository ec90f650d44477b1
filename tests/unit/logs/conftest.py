"""Fixtures for the logging tests: a configured log dir, and logging reset after every test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grace.logs import LOG_FILENAME, configure_logging, reset_logging

ReadLog = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like Grace."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Every test starts and ends with structlog's defaults and no Grace handlers."""
    reset_logging()
    yield
    reset_logging()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A log dir that ``configure_logging`` writes to (level INFO, no console)."""
    directory = tmp_path / "logs"
    configure_logging(log_dir=directory, console=False)
    return directory


@pytest.fixture
def read_log(log_dir: Path) -> ReadLog:
    """Read back every record written so far to ``log_dir/grace.jsonl``."""

    def read() -> list[dict[str, Any]]:
        text = (log_dir / LOG_FILENAME).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    return read
