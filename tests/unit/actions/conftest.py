"""Fixtures for the built-in actions' unit tests: a fake clock and a context factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.lowlevel
import pytest

from grace.actions import ActionContext


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, as the engine does."""
    return "asyncio"


class FakeClock:
    """A clock whose ``sleep`` advances time instead of waiting."""

    def __init__(self) -> None:
        self.start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock at 2024-05-01 12:00 UTC."""
    return FakeClock()


MakeCtx = Callable[..., ActionContext]


@pytest.fixture
def make_ctx(tmp_path: Path, clock: FakeClock) -> MakeCtx:
    """Build an ActionContext on the fake clock; keyword arguments override fields."""

    def make(**overrides: Any) -> ActionContext:
        fields: dict[str, Any] = {
            "run_id": "run_test",
            "step": "step_one",
            "attempt": 1,
            "clock": clock,
            "data_dir": tmp_path / "data",
            "service": "api",
        }
        fields.update(overrides)
        return ActionContext(**fields)

    return make
