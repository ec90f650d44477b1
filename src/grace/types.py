"""Public protocols and small value types shared by every layer: time and ids are injected."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import anyio

__all__ = ("Clock", "IdFactory", "RandomIds", "SystemClock", "utcnow")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@runtime_checkable
class Clock(Protocol):
    """Where the engine gets time. Tests pass :class:`grace.testing.FakeClock`."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; only differences mean anything."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock advances instead of waiting)."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@runtime_checkable
class IdFactory(Protocol):
    """Where the engine gets ids."""

    def new(self, prefix: str) -> str:
        """A new unique id such as ``run_018f3c…``."""


class RandomIds:
    """Time-ordered ids: 12 hex digits of milliseconds, then 10 random hex digits.

    Sorting ids sorts by creation time, which keeps listings and indexes friendly.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()

    def new(self, prefix: str) -> str:
        ms = int(self._clock.now().timestamp() * 1000)
        return f"{prefix}_{ms:012x}{os.urandom(5).hex()}"
