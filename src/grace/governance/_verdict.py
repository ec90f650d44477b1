"""What the governor can say about a diagnosis, and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

from grace.audit._chain import AuditDraft
from grace.events import Event
from grace.playbooks import Playbook
from grace.runs import RunStatus

__all__ = ("Decision", "DecisionKind", "Effects", "Guard", "GuardInput", "Note", "Verdict")


class DecisionKind(StrEnum):
    """The governor's answer (DESIGN.md's Decision)."""

    SUPPRESSED = "suppressed"
    """A repeat, a stale or recovered signal, a silence, an inhibition, a throttle, a circuit."""
    BLOCKED = "blocked"
    """Not allowed: emergency stop, auto_trigger off, a condition false, policy refuses, or
    outside the change window (then a ``blocked_change_window`` run waits for an override)."""
    PROPOSED = "proposed"
    """Observe-only (or autonomy tier 0): a run is recorded as a proposal; nothing executes."""
    AWAITING_APPROVAL = "awaiting_approval"
    """A run waits for one approval, or for a quorum of distinct approvers."""
    QUEUED = "queued"
    """The run is queued for execution."""
    ESCALATED = "escalated"
    """Too many attempts: the circuit opened, a ticket was filed and a notification sent."""


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
    now: datetime | None = None
    """The decision's time (the injected clock; the event's own time in a replay)."""
    trigger: str = "event"
    """``event`` for automatic diagnoses; ``manual``/``api`` when a person asked for the run."""
    requested_by: str = "engine"
    vars: Mapping[str, Any] = field(default_factory=dict)
    """``--var`` values of a manual or API run (conditions see them as ``vars``)."""


@dataclass(frozen=True, slots=True)
class Effects:
    """What recording a decision changes besides its audit entry (applied in one transaction)."""

    count_on: str | None = None
    """A run whose ``suppressed`` count this repeat increments."""
    group: bool = False
    """Count the repeat on its incident group."""
    throttle: dict[str, Any] | None = None
    """The group's new throttle state."""
    held_event: dict[str, Any] | None = None
    """An event held by a ``once_after`` throttle, fired when its window ends."""
    escalate: bool = False
    """Open the group's circuit, file a ticket, send a notification."""

    def merged(self, other: Effects | None) -> Effects:
        """Both sets of effects (``other`` wins where both say something)."""
        if other is None:
            return self
        return Effects(
            count_on=other.count_on or self.count_on,
            group=self.group or other.group,
            throttle=other.throttle if other.throttle is not None else self.throttle,
            held_event=other.held_event if other.held_event is not None else self.held_event,
            escalate=self.escalate or other.escalate,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A guard's word that decides: an objection, or the final ruling (policy and window)."""

    kind: DecisionKind
    reason: str
    hint: str = ""
    """What would change the outcome (``grace approve RUN_ID``, "wait for 09:00 Monday"…)."""
    run_status: RunStatus | None = None
    """The run to record with this decision, if any (proposed, awaiting approval, queued…)."""
    approvals_needed: int = 0
    effects: Effects | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A guard's "no objection", with what it checked and anything to record on the way."""

    text: str
    effects: Effects | None = None


Guard: TypeAlias = Callable[[GuardInput], Verdict | Note | None]
"""A governance check; the first guard that returns a :class:`Verdict` decides."""


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
    hint: str = ""
    """What would change the outcome."""
    run_status: RunStatus | None = None
    """The run recorded with this decision, if any."""
    approvals_needed: int = 0
    effects: Effects = field(default_factory=lambda: Effects())

    def audit_draft(self, actor: str, subject: str, **context: Any) -> AuditDraft:
        """The ``decision.<kind>`` audit entry: reason, deciding guard, hint and trace, plus
        ``context`` (event, run, trigger…). Every decision is recorded through this one shape."""
        return AuditDraft(
            actor,
            f"decision.{self.kind.value}",
            subject,
            {
                "playbook": self.playbook,
                "signature": self.signature,
                "reason": self.reason,
                "guard": self.guard,
                "hint": self.hint,
                "trace": [f"{name}: {said}" for name, said in self.trace],
                **context,
            },
        )
