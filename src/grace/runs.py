"""Runs, step attempts and tickets: the durable records of what Grace did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = (
    "ACTIVE_STATUSES",
    "PENDING_STATUSES",
    "TERMINAL_STATUSES",
    "Run",
    "RunStatus",
    "StepAttempt",
    "StepPhase",
    "StepStatus",
    "Ticket",
)


class RunStatus(StrEnum):
    """Where a run is in its life.

    ``proposed → awaiting_approval → queued → running → succeeded | failed | rolled_back |
    timed_out | aborted | interrupted``, plus ``rejected`` and ``expired``. A run the policy
    would allow but that falls outside the change window waits as ``blocked_change_window``
    until an operator approves it with an override (or it expires).
    """

    PROPOSED = "proposed"
    AWAITING_APPROVAL = "awaiting_approval"
    BLOCKED_CHANGE_WINDOW = "blocked_change_window"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    TIMED_OUT = "timed_out"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"
    EXPIRED = "expired"


TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.ROLLED_BACK,
        RunStatus.TIMED_OUT,
        RunStatus.ABORTED,
        RunStatus.INTERRUPTED,
        RunStatus.REJECTED,
        RunStatus.EXPIRED,
    }
)
PENDING_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.PROPOSED, RunStatus.AWAITING_APPROVAL, RunStatus.BLOCKED_CHANGE_WINDOW}
)
"""Waiting on a human (or on observe mode being lifted); each expires, none waits forever."""
ACTIVE_STATUSES: frozenset[RunStatus] = PENDING_STATUSES | {RunStatus.QUEUED, RunStatus.RUNNING}
"""An open incident: a second run with the same dedupe key is refused while one is active."""


class StepStatus(StrEnum):
    """Outcome of one attempt of one step."""

    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


class StepPhase(StrEnum):
    """Which list a step came from."""

    MAIN = "main"
    ON_FAILURE = "on_failure"
    ON_SUCCESS = "on_success"


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of one playbook."""

    id: str
    playbook: str
    playbook_version: str
    status: RunStatus
    created_at: datetime
    trigger: str = "manual"
    """What started it: ``manual``, ``event``, ``api``, ``schedule``, ``playbook.run``."""
    event: dict[str, Any] = field(default_factory=dict)
    """The triggering event (``Event.to_dict()``), empty for a manual run without one."""
    captures: dict[str, Any] = field(default_factory=dict)
    """Named groups captured by the trigger pattern (the diagnosis)."""
    vars: dict[str, Any] = field(default_factory=dict)
    """``--var k=v`` values, visible to templates as ``vars.k``."""
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Outputs of completed steps by step name (kept so a resumed run can template on them)."""
    dry_run: bool = False
    service: str = ""
    requested_by: str = "system"
    parent_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    fence: int = 0
    """Bumped on every claim; the step gate refuses a worker holding an older fence."""
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_completed_step: str | None = None
    error: str | None = None
    dedupe_key: str | None = None
    """``playbook:signature``: one open run per incident; repeats are counted on it."""
    severity: str = ""
    """The triggering event's severity (a firing critical diagnosis inhibits lesser playbooks)."""
    priority: str = "medium"
    """The playbook's priority when the run was created."""
    risk_level: str = "low"
    """The playbook's risk level when the run was created."""
    suppressed: int = 0
    """Repeats of this incident suppressed while the run was open or cooling down."""
    expires_at: datetime | None = None
    """A pending run (proposed, awaiting approval, blocked) becomes ``expired`` at this time."""
    approvals_needed: int = 0
    """Distinct approvals still required before the run is queued."""
    idempotency_key: str | None = None
    """Given by an API client: the same key returns the same run instead of a second one."""

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class StepAttempt:
    """One try of one step."""

    id: int
    run_id: str
    step: str
    phase: StepPhase
    index: int
    """Position of the step within its phase (0-based)."""
    attempt: int
    """1 for the first try, 2 for the first retry…"""
    action: str
    status: StepStatus
    started_at: datetime
    finished_at: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """Rendered parameters (secrets redacted)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_ms(self) -> float | None:
        """Milliseconds the attempt took, when finished."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000


@dataclass(frozen=True, slots=True)
class Ticket:
    """A work order: what a human must do, with the context to do it."""

    id: str
    created_at: datetime
    title: str
    body: str = ""
    severity: str = "warning"
    status: str = "open"
    service: str = ""
    run_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    closed_at: datetime | None = None
