"""Fixtures for the matcher tests (helpers live in ``matching_support``)."""

from __future__ import annotations

import pytest
from matching_support import require_backend

from grace.matching import BACKEND_NAMES


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn (skipped, or failed under ``GRACE_REQUIRE_ALL=1``, when missing)."""
    name: str = request.param
    require_backend(name)
    return name
