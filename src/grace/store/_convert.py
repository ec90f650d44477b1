"""Rows ⇄ domain dataclasses. ORM rows never leave the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from grace.runs import Run, RunStatus, StepAttempt, StepPhase, StepStatus, Ticket

__all__ = ("aware", "run_from_row", "run_values", "step_from_row", "ticket_from_row", "utc")


def utc(value: datetime) -> datetime:
    """:func:`aware` for a column that is never NULL."""
    stamped = aware(value)
    assert stamped is not None
    return stamped


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything Grace stores is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    out = aware(value)
    assert out is not None
    return out


def run_values(run: Run) -> dict[str, Any]:
    """Column values for inserting a run."""
    return {
        "id": run.id,
        "playbook": run.playbook,
        "playbook_version": run.playbook_version,
        "status": run.status.value,
        "trigger": run.trigger,
        "event": run.event,
        "captures": run.captures,
        "vars": run.vars,
        "outputs": run.outputs,
        "dry_run": run.dry_run,
        "service": run.service,
        "requested_by": run.requested_by,
        "parent_run_id": run.parent_run_id,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "fence": run.fence,
        "lease_owner": run.lease_owner,
        "lease_expires_at": run.lease_expires_at,
        "last_completed_step": run.last_completed_step,
        "error": run.error,
        "dedupe_key": run.dedupe_key,
        "severity": run.severity,
        "priority": run.priority,
        "risk_level": run.risk_level,
        "suppressed": run.suppressed,
        "expires_at": run.expires_at,
        "approvals_needed": run.approvals_needed,
        "idempotency_key": run.idempotency_key,
    }


def run_from_row(row: Any) -> Run:
    """A :class:`Run` from a ``runs`` row mapping."""
    return Run(
        id=row.id,
        playbook=row.playbook,
        playbook_version=row.playbook_version,
        status=RunStatus(row.status),
        created_at=_aware(row.created_at),
        trigger=row.trigger,
        event=dict(row.event or {}),
        captures=dict(row.captures or {}),
        vars=dict(row.vars or {}),
        outputs=dict(row.outputs or {}),
        dry_run=bool(row.dry_run),
        service=row.service or "",
        requested_by=row.requested_by,
        parent_run_id=row.parent_run_id,
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at),
        fence=row.fence,
        lease_owner=row.lease_owner,
        lease_expires_at=aware(row.lease_expires_at),
        last_completed_step=row.last_completed_step,
        error=row.error,
        dedupe_key=row.dedupe_key,
        severity=row.severity or "",
        priority=row.priority or "medium",
        risk_level=row.risk_level or "low",
        suppressed=row.suppressed or 0,
        expires_at=aware(row.expires_at),
        approvals_needed=row.approvals_needed or 0,
        idempotency_key=row.idempotency_key,
    )


def step_from_row(row: Any) -> StepAttempt:
    """A :class:`StepAttempt` from a ``step_attempts`` row mapping."""
    return StepAttempt(
        id=row.id,
        run_id=row.run_id,
        step=row.step,
        phase=StepPhase(row.phase),
        index=row.idx,
        attempt=row.attempt,
        action=row.action,
        status=StepStatus(row.status),
        started_at=_aware(row.started_at),
        finished_at=aware(row.finished_at),
        params=dict(row.params or {}),
        outputs=dict(row.outputs or {}),
        error=row.error,
    )


def ticket_from_row(row: Any) -> Ticket:
    """A :class:`Ticket` from a ``tickets`` row mapping."""
    return Ticket(
        id=row.id,
        created_at=_aware(row.created_at),
        title=row.title,
        body=row.body,
        severity=row.severity,
        status=row.status,
        service=row.service,
        run_id=row.run_id,
        context=dict(row.context or {}),
        closed_at=aware(row.closed_at),
    )
