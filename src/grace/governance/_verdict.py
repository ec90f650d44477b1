"""What the governor can say about a diagnosis, and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from grace.events import Event
from grace.playbooks import Playbook

__all__ = ("Decision", "DecisionKind", "Guard", "GuardInput", "Verdict")


class DecisionKind(StrEnum):
    """The governor's answer (DESIGN.md's Decision)."""

    SUPPRESSED = "suppressed"
    """A repeat of something already handled (open incident, resolved episode)."""
    BLOCKED = "blocked"
    """Not allowed (auto_trigger off, a condition false)."""
    PROPOSED = "proposed"
    """Observe-only: a run is recorded as a proposal; nothing executes."""
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    """The run is queued for execution."""
    ESCALATED = "escalated"


@dataclass(frozen=True, slots=True)
class GuardInput:
    """Everything a guard sees: one diagnosis of one event (a single input, so fields can grow)."""

    event: Event
    playbook: Playbook
    captures: Mapping[str, str]
    signature: str
    """Stable digest of playbook + event fingerprint + captures (dedupe and learning)."""
    mode: str
    """``observe`` or ``execute``."""
    flags: Mapping[str, Any] = field(default_factory=dict)
    """Context flags conditions may test (``in_change_freeze``…)."""
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One guard's objection. A guard with no objection returns None."""

    kind: DecisionKind
    reason: str


Guard: TypeAlias = Callable[[GuardInput], Verdict | None]
"""A governance check; the first guard that returns a verdict decides."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's final word on one diagnosis."""

    kind: DecisionKind
    reason: str
    guard: str
    """Which guard decided (``mode`` when none objected)."""
    playbook: str
    signature: str
    trace: tuple[tuple[str, str], ...] = ()
    """Every guard consulted, in order, with what it said (``ok`` or its verdict)."""
