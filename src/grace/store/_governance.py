"""Governance records: the emergency stop, incident groups, silences, approvals, target locks.

Every piece of coordination state is a row, so a second process (``grace approve`` next to a
running ``grace serve``) or a second node sees it at once. Every change writes its audit entry
in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from grace.audit._chain import AuditDraft
from grace.errors import RunError
from grace.runs import PENDING_STATUSES, TERMINAL_STATUSES, Run, RunStatus
from grace.store._convert import aware, run_from_row
from grace.store._reads import Reads
from grace.store._tables import approvals as _approvals
from grace.store._tables import controls as _controls
from grace.store._tables import incident_groups as _groups
from grace.store._tables import runs as _runs
from grace.store._tables import silences as _silences
from grace.store._tables import target_locks as _locks
from grace.store._tables import tickets as _tickets

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from grace.types import Clock, IdFactory

__all__ = ("Approval", "GovernanceRecords", "GroupState", "Suppression", "TargetBusy")

EMERGENCY_STOP = "emergency_stop"
STOP_FRESH_S = 0.1
"""How stale this process's view of the emergency stop may be (seconds)."""

_PENDING = frozenset(s.value for s in PENDING_STATUSES)

# Runs that count as an attempt of the incident: they were let through to execute.
_ATTEMPT_STATUSES = tuple(
    s.value
    for s in RunStatus
    if s not in PENDING_STATUSES and s not in (RunStatus.REJECTED, RunStatus.EXPIRED)
)


class TargetBusy(RunError):
    """Another run holds the target (service) this run would repair."""

    def __init__(self, target: str, holder: str) -> None:
        super().__init__(f"service {target!r} is busy: run {holder} is working on it")
        self.target = target
        self.holder = holder
        self.hint = "one run per target at a time; it is picked up again when that run ends"


@dataclass(frozen=True, slots=True)
class GroupState:
    """What the governor remembers about one incident group (``playbook:signature``)."""

    key: str
    suppressed: int = 0
    throttle: dict[str, Any] | None = None
    held_event: dict[str, Any] | None = None
    circuit_open_until: datetime | None = None
    circuit_ticket_id: str | None = None
    attempts_since: datetime | None = None
    """Attempts before this (a manual circuit reset) no longer count."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppressed repeat waiting to be recorded with others of its batch."""

    key: str
    playbook: str
    service: str
    run_id: str | None
    draft: AuditDraft


@dataclass(frozen=True, slots=True)
class Approval:
    """One human verdict on a pending run."""

    run_id: str
    approver: str
    verdict: str
    reason: str
    override_window: bool
    created_at: datetime


class _TxLike(Protocol):
    conn: Connection
    now: datetime

    def audit(self, *drafts: AuditDraft) -> None: ...


class GovernanceRecords(Reads):
    """The store's governance side (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock
    ids: IdFactory
    _stop_cache: tuple[float, dict[str, Any] | None] | None = None

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

        def _locked_run(self, conn: Connection, run_id: str) -> Any: ...

    # -- emergency stop ---------------------------------------------------------------------

    def emergency_stop(self) -> dict[str, Any] | None:
        """The emergency stop in force (``by``, ``reason``, ``at``), or None.

        Read at most every :data:`STOP_FRESH_S` per process (a storm decides thousands of
        events a second); this process's own stop and resume are seen at once, another
        process's within that time. Claims and the step gate read the row itself.
        """
        cached = self._stop_cache
        if cached is not None and time.monotonic() - cached[0] < STOP_FRESH_S:
            return cached[1]
        with self._read() as conn:
            row = conn.execute(select(_controls).where(_controls.c.name == EMERGENCY_STOP)).first()
        value = None if row is None else dict(row.value)
        self._stop_cache = (time.monotonic(), value)
        return value

    def set_emergency_stop(self, *, by: str, reason: str) -> list[str]:
        """Halt everything: refuse new runs; abort queued ones. Returns the aborted run ids.

        Running runs notice the row within a fraction of a second, cancel their current step,
        run their recovery and end ``aborted`` (the runner does that; see ``Runner``).
        """
        with self.transaction() as tx:
            value = {"by": by, "reason": reason, "at": tx.now.isoformat()}
            tx.conn.execute(delete(_controls).where(_controls.c.name == EMERGENCY_STOP))
            tx.conn.execute(
                insert(_controls).values(name=EMERGENCY_STOP, value=value, set_by=by, set_at=tx.now)
            )
            queued = [
                str(r[0])
                for r in tx.conn.execute(
                    select(_runs.c.id)
                    .where(_runs.c.status == RunStatus.QUEUED.value)
                    .with_for_update()
                ).all()
            ]
            if queued:
                tx.conn.execute(
                    update(_runs)
                    .where(_runs.c.id.in_(queued))
                    .values(
                        status=RunStatus.ABORTED.value,
                        finished_at=tx.now,
                        error=f"emergency_stop: {reason}",
                    )
                )
            tx.audit(AuditDraft(by, "control.emergency_stop", EMERGENCY_STOP, value))
            self._stop_cache = None
            for run_id in queued:
                tx.audit(
                    AuditDraft(
                        by,
                        "run.aborted",
                        run_id,
                        {"from": "queued", "error": f"emergency_stop: {reason}"},
                    )
                )
        return queued

    def clear_emergency_stop(self, *, by: str, reason: str = "") -> bool:
        """Lift the emergency stop; False when none was in force."""
        with self.transaction() as tx:
            gone = tx.conn.execute(
                delete(_controls)
                .where(_controls.c.name == EMERGENCY_STOP)
                .returning(_controls.c.name)
            ).all()
            if gone:
                tx.audit(AuditDraft(by, "control.resumed", EMERGENCY_STOP, {"reason": reason}))
            self._stop_cache = None
        return bool(gone)

    # -- incident groups --------------------------------------------------------------------

    def group(self, key: str) -> GroupState | None:
        """The remembered state of incident group ``key``."""
        with self._read() as conn:
            row = conn.execute(select(_groups).where(_groups.c.key == key)).first()
        return None if row is None else _group(row)

    def open_circuits(self, *, now: datetime) -> list[GroupState]:
        """Incident groups whose circuit is open at ``now``, soonest to close first."""
        with self._read() as conn:
            rows = conn.execute(
                select(_groups)
                .where(_groups.c.circuit_open_until > now)
                .order_by(_groups.c.circuit_open_until)
            ).all()
        return [_group(r) for r in rows]

    def held_groups(self) -> list[GroupState]:
        """Groups holding an event for a ``once_after`` throttle."""
        with self._read() as conn:
            rows = conn.execute(select(_groups).where(_groups.c.held_event.is_not(None))).all()
        return [_group(r) for r in rows if r.held_event is not None]

    def last_run_of(self, dedupe_key: str) -> Run | None:
        """The newest run of this incident, whatever its status."""
        with self._read() as conn:
            row = conn.execute(
                select(_runs)
                .where(_runs.c.dedupe_key == dedupe_key)
                .order_by(_runs.c.created_at.desc(), _runs.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else run_from_row(row)

    def count_attempts(self, dedupe_key: str, *, since: datetime) -> int:
        """Runs of this incident let through to execute since ``since`` (the circuit's count)."""
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_runs)
                    .where(
                        _runs.c.dedupe_key == dedupe_key,
                        _runs.c.created_at >= since,
                        _runs.c.status.in_(_ATTEMPT_STATUSES),
                    )
                ).scalar_one()
            )

    def record_suppressed(
        self,
        key: str,
        *,
        playbook: str,
        service: str,
        run_id: str | None,
        drafts: Sequence[AuditDraft],
        throttle: dict[str, Any] | None = None,
        held_event: dict[str, Any] | None = None,
    ) -> None:
        """Count one suppressed repeat on its group (and on ``run_id``), with its audit entry."""
        with self.transaction() as tx:
            self._upsert_group(tx, key, playbook, service)
            values: dict[str, Any] = {"suppressed": _groups.c.suppressed + 1, "updated_at": tx.now}
            if throttle is not None:
                values["throttle"] = throttle
                values["held_event"] = held_event
            tx.conn.execute(update(_groups).where(_groups.c.key == key).values(**values))
            if run_id is not None:
                tx.conn.execute(
                    update(_runs)
                    .where(_runs.c.id == run_id)
                    .values(suppressed=_runs.c.suppressed + 1)
                )
            tx.audit(*drafts)

    def record_suppressed_many(self, items: Sequence[Suppression]) -> None:
        """Many suppressed repeats in one transaction (a storm costs one commit per batch)."""
        if not items:
            return
        per_group: dict[str, tuple[str, str, int]] = {}
        per_run: dict[str, int] = {}
        for item in items:
            playbook, service, n = per_group.get(item.key, (item.playbook, item.service, 0))
            per_group[item.key] = (playbook, service, n + 1)
            if item.run_id is not None:
                per_run[item.run_id] = per_run.get(item.run_id, 0) + 1
        with self.transaction() as tx:
            for key, (playbook, service, n) in per_group.items():
                self._upsert_group(tx, key, playbook, service)
                tx.conn.execute(
                    update(_groups)
                    .where(_groups.c.key == key)
                    .values(suppressed=_groups.c.suppressed + n, updated_at=tx.now)
                )
            for run_id, n in per_run.items():
                tx.conn.execute(
                    update(_runs)
                    .where(_runs.c.id == run_id)
                    .values(suppressed=_runs.c.suppressed + n)
                )
            tx.audit(*(item.draft for item in items))

    def save_throttle(
        self,
        key: str,
        *,
        playbook: str,
        service: str,
        throttle: dict[str, Any],
        held_event: dict[str, Any] | None,
    ) -> None:
        """Store a group's throttle state (after a fire, or a flushed ``once_after`` window)."""
        with self.transaction() as tx:
            self._upsert_group(tx, key, playbook, service)
            tx.conn.execute(
                update(_groups)
                .where(_groups.c.key == key)
                .values(throttle=throttle, held_event=held_event, updated_at=tx.now)
            )

    def open_circuit(
        self,
        key: str,
        *,
        playbook: str,
        service: str,
        until: datetime,
        title: str,
        body: str,
        context: dict[str, Any],
        drafts: Sequence[AuditDraft],
    ) -> str | None:
        """Open the group's circuit and file its escalation ticket, once.

        Returns the new ticket's id, or None when the circuit was already open (another
        worker or node escalated first: exactly one ticket per opening).
        """
        with self.transaction() as tx:
            self._upsert_group(tx, key, playbook, service)
            ticket_id = self.ids.new("tkt")
            opened = tx.conn.execute(
                update(_groups)
                .where(
                    _groups.c.key == key,
                    or_(
                        _groups.c.circuit_open_until.is_(None),
                        _groups.c.circuit_open_until <= tx.now,
                    ),
                )
                .values(circuit_open_until=until, circuit_ticket_id=ticket_id, updated_at=tx.now)
                .returning(_groups.c.key)
            ).all()
            if not opened:
                return None
            tx.conn.execute(
                insert(_tickets).values(
                    id=ticket_id,
                    created_at=tx.now,
                    title=title,
                    body=body,
                    severity="critical",
                    status="open",
                    service=service,
                    run_id=None,
                    context=context,
                    closed_at=None,
                )
            )
            tx.audit(
                AuditDraft(
                    "governor",
                    "ticket.opened",
                    ticket_id,
                    {"title": title, "severity": "critical", "service": service, "group": key},
                ),
                *drafts,
            )
        return ticket_id

    def reset_circuit(self, key: str, *, by: str) -> bool:
        """Close an open circuit by hand; False when it was not open."""
        with self.transaction() as tx:
            closed = tx.conn.execute(
                update(_groups)
                .where(_groups.c.key == key, _groups.c.circuit_open_until.is_not(None))
                .values(circuit_open_until=None, attempts_since=tx.now, updated_at=tx.now)
                .returning(_groups.c.key)
            ).all()
            if closed:
                tx.audit(AuditDraft(by, "circuit.reset", key, {}))
        return bool(closed)

    def _upsert_group(self, tx: _TxLike, key: str, playbook: str, service: str) -> None:
        exists = tx.conn.execute(
            select(_groups.c.key).where(_groups.c.key == key).with_for_update()
        ).first()
        if exists is None:
            try:
                with tx.conn.begin_nested():
                    tx.conn.execute(
                        insert(_groups).values(
                            key=key,
                            playbook=playbook,
                            service=service,
                            suppressed=0,
                            throttle={},
                            held_event=None,
                            updated_at=tx.now,
                        )
                    )
            except IntegrityError:
                pass  # another writer created it first: fine, it exists

    # -- inhibition ---------------------------------------------------------------------------

    def firing_critical(self, service: str) -> list[Run]:
        """Open runs on ``service`` started by a critical event (they inhibit lesser playbooks)."""
        with self._read() as conn:
            rows = conn.execute(
                select(_runs).where(
                    _runs.c.service == service,
                    _runs.c.severity == "critical",
                    _runs.c.status.in_(
                        [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
                        + [s.value for s in PENDING_STATUSES]
                    ),
                )
            ).all()
        return [run_from_row(r) for r in rows]

    # -- silences -----------------------------------------------------------------------------

    def add_silence(self, silence: dict[str, Any], *, actor: str) -> None:
        """Store a silence (``Silence.to_dict()`` form) with its audit entry."""
        with self.transaction() as tx:
            tx.conn.execute(
                insert(_silences).values(
                    id=silence["id"],
                    matchers=list(silence["matchers"]),
                    starts_at=datetime.fromisoformat(silence["starts_at"]),
                    ends_at=datetime.fromisoformat(silence["ends_at"]),
                    author=silence["author"],
                    comment=silence["comment"],
                    created_at=datetime.fromisoformat(silence["created_at"]),
                )
            )
            tx.audit(AuditDraft(actor, "silence.created", silence["id"], silence))

    def silences(self, *, active_at: datetime | None = None) -> list[dict[str, Any]]:
        """Silences (``Silence.to_dict()`` form), newest first; only those active at a time."""
        query = select(_silences).order_by(_silences.c.created_at.desc())
        if active_at is not None:
            query = query.where(_silences.c.starts_at <= active_at, _silences.c.ends_at > active_at)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_silence_dict(r) for r in rows]

    def expire_silence(self, silence_id: str, *, by: str) -> bool:
        """End a silence now; False when no active silence has that id."""
        with self.transaction() as tx:
            ended = tx.conn.execute(
                update(_silences)
                .where(_silences.c.id == silence_id, _silences.c.ends_at > tx.now)
                .values(ends_at=tx.now)
                .returning(_silences.c.id)
            ).all()
            if ended:
                tx.audit(AuditDraft(by, "silence.expired", silence_id, {}))
        return bool(ended)

    # -- approvals ----------------------------------------------------------------------------

    def approvals_of(self, run_id: str) -> list[Approval]:
        """Every verdict recorded on a run, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(_approvals).where(_approvals.c.run_id == run_id).order_by(_approvals.c.id)
            ).all()
        return [
            Approval(
                r.run_id,
                r.approver,
                r.verdict,
                r.reason,
                bool(r.override_window),
                _aware(r.created_at),
            )
            for r in rows
        ]

    def pending_runs(self) -> list[Run]:
        """Runs waiting on a human (proposed, awaiting approval, blocked by the change window)."""
        with self._read() as conn:
            rows = conn.execute(
                select(_runs)
                .where(_runs.c.status.in_([s.value for s in PENDING_STATUSES]))
                .order_by(_runs.c.created_at)
            ).all()
        return [run_from_row(r) for r in rows]

    def approve_run(
        self, run_id: str, *, approver: str, reason: str = "", override_window: bool = False
    ) -> Run:
        """Record ``approver``'s approval; the run is queued once no approval is missing.

        Raises:
            RunError: the run is not waiting for approval, has expired, the approver asked
                for the run (four eyes), already approved it, or the run is blocked by the
                change window and ``override_window`` was not given.
        """
        self._expire_if_due(run_id)
        with self.transaction() as tx:
            row = self._pending_row(tx, run_id)
            status = RunStatus(row.status)
            stop = tx.conn.execute(
                select(_controls.c.value).where(_controls.c.name == EMERGENCY_STOP)
            ).scalar_one_or_none()
            if stop is not None:
                msg = f"emergency_stop is in force ({stop.get('reason', '')}): nothing is approved"
                err = RunError(msg)
                err.hint = "lift it with 'grace resume' first; the run waits until it expires"
                raise err
            if status is RunStatus.PROPOSED:
                msg = f"run {run_id} is only a proposal (observe-only mode): nothing executes"
                err = RunError(msg)
                err.hint = "switch mode to execute; the next occurrence will be decided again"
                raise err
            if approver == row.requested_by:
                msg = (
                    f"{approver} requested run {run_id} and cannot approve it too "
                    "(four eyes: another person must approve)"
                )
                raise RunError(msg)
            if status is RunStatus.BLOCKED_CHANGE_WINDOW and not override_window:
                msg = f"run {run_id} is outside the change window"
                err = RunError(msg)
                err.hint = "approve it with --override-window to run it outside the window"
                raise err
            if not self._insert_verdict(tx, run_id, approver, "approved", reason, override_window):
                msg = f"{approver} has already given a verdict on run {run_id}"
                err = RunError(msg)
                err.hint = "a quorum needs distinct approvers"
                raise err
            needed = max(int(row.approvals_needed) - 1, 0)
            values: dict[str, Any] = {"approvals_needed": needed}
            if needed == 0:
                values.update(status=RunStatus.QUEUED.value, expires_at=None)
            elif status is RunStatus.BLOCKED_CHANGE_WINDOW:
                values["status"] = RunStatus.AWAITING_APPROVAL.value
            tx.conn.execute(update(_runs).where(_runs.c.id == run_id).values(**values))
            tx.audit(
                AuditDraft(
                    approver,
                    "run.approved",
                    run_id,
                    {
                        "reason": reason,
                        "override_window": override_window,
                        "approvals_missing": needed,
                    },
                )
            )
            if needed == 0:
                tx.audit(
                    AuditDraft(
                        approver, "run.queued", run_id, {"from": status.value, "reason": reason}
                    )
                )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    def reject_run(self, run_id: str, *, by: str, reason: str) -> Run:
        """Refuse a pending run: it ends ``rejected``, with who and why on record."""
        self._expire_if_due(run_id)
        with self.transaction() as tx:
            row = self._pending_row(tx, run_id)
            if not self._insert_verdict(tx, run_id, by, "rejected", reason, override=False):
                # They approved earlier and changed their mind: a rejection always stands.
                tx.conn.execute(
                    update(_approvals)
                    .where(_approvals.c.run_id == run_id, _approvals.c.approver == by)
                    .values(verdict="rejected", reason=reason, created_at=tx.now)
                )
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(
                    status=RunStatus.REJECTED.value,
                    finished_at=tx.now,
                    expires_at=None,
                    error=f"rejected by {by}: {reason}",
                )
            )
            tx.audit(AuditDraft(by, "run.rejected", run_id, {"from": row.status, "reason": reason}))
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    def expire_pending(self) -> list[str]:
        """Pending runs past their ``expires_at`` become ``expired``. Returns their ids."""
        with self.transaction() as tx:
            due = tx.conn.execute(
                select(_runs.c.id, _runs.c.status)
                .where(
                    _runs.c.status.in_([s.value for s in PENDING_STATUSES]),
                    _runs.c.expires_at.is_not(None),
                    _runs.c.expires_at <= tx.now,
                )
                .with_for_update()
            ).all()
            for run_id, status in due:
                self._expire(tx, str(run_id), str(status))
        return [str(r[0]) for r in due]

    def _insert_verdict(
        self, tx: _TxLike, run_id: str, who: str, verdict: str, reason: str, override: bool
    ) -> bool:
        """Record ``who``'s verdict; False when they already gave one on this run."""
        try:
            with tx.conn.begin_nested():
                tx.conn.execute(
                    insert(_approvals).values(
                        run_id=run_id,
                        approver=who,
                        verdict=verdict,
                        reason=reason,
                        override_window=override,
                        created_at=tx.now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _expire_if_due(self, run_id: str) -> None:
        """Expire ``run_id`` first if its time is up (committed before any verdict is refused)."""
        with self.transaction() as tx:
            row = self._locked_run(tx.conn, run_id)
            expires = aware(row.expires_at)
            if row.status in _PENDING and expires is not None and expires <= tx.now:
                self._expire(tx, row.id, row.status)

    def _pending_row(self, tx: _TxLike, run_id: str) -> Any:
        row = self._locked_run(tx.conn, run_id)
        status = RunStatus(row.status)
        if status is RunStatus.EXPIRED:
            msg = f"run {row.id} expired; nothing will run"
            err = RunError(msg)
            err.hint = "if the problem is still there, Grace decides again on its next signal"
            raise err
        if status not in PENDING_STATUSES:
            msg = f"run {row.id} is {status.value}; only a pending run can be approved or rejected"
            raise RunError(msg)
        return row

    def _expire(self, tx: _TxLike, run_id: str, status: str) -> None:
        tx.conn.execute(
            update(_runs)
            .where(_runs.c.id == run_id)
            .values(
                status=RunStatus.EXPIRED.value,
                finished_at=tx.now,
                error=f"expired while {status}",
            )
        )
        tx.audit(AuditDraft("governor", "run.expired", run_id, {"from": status}))

    # -- target locks -------------------------------------------------------------------------

    def take_target(
        self, conn: Connection, *, target: str, run_id: str, owner: str, until: datetime
    ) -> None:
        """Hold ``target`` for ``run_id`` (inside the claim's transaction).

        Raises:
            TargetBusy: a live run holds it.
        """
        row = conn.execute(
            select(_locks).where(_locks.c.target == target).with_for_update()
        ).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(_locks).values(
                            target=target, run_id=run_id, owner=owner, expires_at=until
                        )
                    )
            except IntegrityError:
                row = conn.execute(
                    select(_locks).where(_locks.c.target == target).with_for_update()
                ).first()
                if row is None:  # pragma: no cover - released between our two statements
                    raise TargetBusy(target, "(just released)") from None
            else:
                return
        if row.run_id != run_id:
            holder = conn.execute(
                select(_runs.c.status).where(_runs.c.id == row.run_id)
            ).scalar_one_or_none()
            holder_done = holder is None or RunStatus(holder) in TERMINAL_STATUSES
            if not holder_done and _aware(row.expires_at) > self.clock.now():
                raise TargetBusy(target, row.run_id)
        conn.execute(
            update(_locks)
            .where(_locks.c.target == target)
            .values(run_id=run_id, owner=owner, expires_at=until)
        )

    def extend_target(self, conn: Connection, *, run_id: str, until: datetime) -> None:
        """Renew the target lock a run holds (with its lease)."""
        conn.execute(update(_locks).where(_locks.c.run_id == run_id).values(expires_at=until))

    def release_target(self, conn: Connection, *, run_id: str) -> None:
        """Let go of whatever target ``run_id`` holds."""
        conn.execute(delete(_locks).where(_locks.c.run_id == run_id))

    def target_holders(self) -> dict[str, str]:
        """``target → run id`` for every held target lock."""
        with self._read() as conn:
            return {r.target: r.run_id for r in conn.execute(select(_locks)).all()}


def _aware(value: datetime) -> datetime:
    out = aware(value)
    assert out is not None
    return out


def _group(row: Any) -> GroupState:
    return GroupState(
        key=row.key,
        suppressed=int(row.suppressed),
        throttle=dict(row.throttle or {}) or None,
        held_event=dict(row.held_event) if row.held_event is not None else None,
        circuit_open_until=aware(row.circuit_open_until),
        circuit_ticket_id=row.circuit_ticket_id,
        attempts_since=aware(row.attempts_since),
    )


def _silence_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "matchers": list(row.matchers),
        "starts_at": _aware(row.starts_at).isoformat(),
        "ends_at": _aware(row.ends_at).isoformat(),
        "author": row.author,
        "comment": row.comment,
        "created_at": _aware(row.created_at).isoformat(),
    }
