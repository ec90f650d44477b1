"""Fixtures for the audit unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the engine."""
    return "asyncio"
