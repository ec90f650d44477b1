"""What the matcher returns: :class:`Match`, :class:`LineHit` and :class:`Explanation`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from grace.matching._trigger import Trigger

__all__ = ("Explanation", "LineHit", "Match", "signature")


@dataclass(frozen=True, slots=True)
class Match:
    """A trigger that fired on an event: the diagnosis the governor decides about."""

    playbook: str
    """The playbook to run."""
    trigger_index: int
    """Which of its triggers fired (position in ``triggers:``)."""
    trigger_type: str
    """That trigger's type."""
    captures: dict[str, str]
    """Named groups of the pattern that took part in the match."""
    signature: str
    """Stable digest of playbook, event fingerprint and captures: the dedupe and learning key."""


@dataclass(frozen=True, slots=True)
class LineHit:
    """A line of a scanned buffer that at least one pattern matches."""

    start: int
    """Byte offset of the line's first byte."""
    end: int
    """Byte offset just past the line, excluding its ``\\n`` (and a ``\\r`` before it)."""
    pattern_ids: tuple[int, ...]
    """Indexes into ``Matcher.patterns`` of every pattern the line matches, ascending."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one trigger did or did not match an event."""

    trigger: Trigger
    """The trigger explained."""
    matched: bool
    """It fired (exactly as ``Matcher.match`` decides)."""
    reasons: tuple[str, ...]
    """Each check that failed, in plain words; when matched, each check that passed."""
    near_miss: bool
    """Not matched, but every check except one passed."""


def signature(playbook: str, fingerprint: str, captures: Mapping[str, str]) -> str:
    """sha256 over playbook, the event's fingerprint and the sorted captures; 16 hex digits."""
    basis = json.dumps([playbook, fingerprint, sorted(captures.items())], separators=(",", ":"))
    return hashlib.sha256(basis.encode()).hexdigest()[:16]
