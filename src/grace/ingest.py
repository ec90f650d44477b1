"""The door events come in through: what the HTTP API and the SDK endpoint call.

The pipeline implements :class:`Ingest`; the API depends only on this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grace.events import Event

__all__ = ("Ingest", "Submitted")


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of a submitted event."""

    accepted: bool
    """True when it was new and queued; False for a duplicate (same source and key)."""
    event_id: str
    reason: str = ""
    """Why it was not accepted (``duplicate``, ``stale``, ``episode resolved``…)."""


class Ingest(Protocol):
    """Events in; episodes opened and closed."""

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        """Record ``event`` once (idempotent per source and key) and queue it for matching.

        Waits while the queue is full (back-pressure) rather than dropping.
        """

    async def open_episode(self, key: str, *, service: str = "") -> bool:
        """Mark a failure episode firing (True when newly firing)."""

    async def resolve_episode(self, key: str) -> bool:
        """Close a failure episode: its signals start nothing from now on (True when it was firing)."""

    async def heartbeat(self, name: str, *, detail: dict[str, object] | None = None) -> None:
        """Record that component ``name`` is alive."""
