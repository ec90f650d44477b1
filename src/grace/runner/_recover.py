"""After a crash: runs left ``running`` with no live worker are resumed or marked ``interrupted``.

A run resumes only when every step that may have been cut short, and every step after it, is
idempotent; anything else would risk repeating a side effect, so it becomes ``interrupted``
with its last completed step, for a human to look at. Nothing is silently lost or repeated.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from grace.actions import ActionRegistry, UnknownAction
from grace.playbooks import Playbook
from grace.runs import Run, StepPhase, StepStatus
from grace.store import Store

__all__ = ("Recovery", "find_orphans", "owner_is_dead")


@dataclass(frozen=True, slots=True)
class Recovery:
    """What happened to one orphaned run."""

    run_id: str
    action: str
    """``resume`` or ``interrupted``."""
    reason: str


def owner_is_dead(owner: str | None, *, host: str | None = None) -> bool:
    """True when ``owner`` (``host:pid``) names a process on this host that no longer runs."""
    if not owner or ":" not in owner:
        return False
    owner_host, _, pid_text = owner.rpartition(":")
    if owner_host != (host or socket.gethostname()):
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    import psutil  # only when a run's owner must be checked (saves memory in an idle daemon)

    return not psutil.pid_exists(pid)


def find_orphans(store: Store, *, now: datetime, self_owner: str) -> list[Run]:
    """Running runs whose worker is gone: lease expired, or owner process dead on this host."""
    orphans = []
    for run in store.running_runs():
        if run.lease_owner == self_owner:
            continue
        expired = run.lease_expires_at is None or run.lease_expires_at <= now
        if expired or owner_is_dead(run.lease_owner):
            orphans.append(run)
    return orphans


def decide(
    run: Run, store: Store, registry: ActionRegistry, lookup: Callable[[str], Playbook]
) -> Recovery:
    """Resume or interrupt one orphaned run (the decision only; the caller acts on it)."""
    try:
        playbook = lookup(run.playbook)
    except LookupError:
        return Recovery(
            run.id, "interrupted", f"worker died; playbook {run.playbook!r} is no longer loaded"
        )
    attempts = store.step_attempts(run.id)
    open_attempts = [a for a in attempts if a.status is StepStatus.STARTED]
    if any(a.phase is not StepPhase.MAIN for a in open_attempts):
        step = open_attempts[0].step
        return Recovery(run.id, "interrupted", f"worker died during recovery step {step!r}")
    names = [s.name for s in playbook.steps]
    start = names.index(run.last_completed_step) + 1 if run.last_completed_step in names else 0
    remaining = playbook.steps[start:]
    cut = f"during step {open_attempts[0].step!r}" if open_attempts else "between steps"
    last = run.last_completed_step or "none"
    for spec in remaining:
        try:
            idempotent = registry.get(spec.action).idempotent
        except UnknownAction:
            idempotent = False
        if not idempotent:
            return Recovery(
                run.id,
                "interrupted",
                f"worker died {cut}; step {spec.name!r} ({spec.action}) is not idempotent, so it is "
                f"not re-run automatically; last completed step: {last}",
            )
    return Recovery(run.id, "resume", f"worker died {cut}; every remaining step is idempotent")
