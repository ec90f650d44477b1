"""Fixtures for the SDK's integration tests: a real HTTP receiver standing in for Grace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on an ephemeral port, not started (call ``start()``); stopped afterwards."""
    r = Receiver()
    yield r
    r.stop()
