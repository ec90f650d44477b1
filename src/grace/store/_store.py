"""The store: runs, step attempts, tickets and the audit chain, on SQLite or PostgreSQL.

Every state change writes its audit record in the same transaction. The step gate
(:meth:`Store.begin_step`) re-checks the run's fence in the transaction that records the
step ``started``, so a worker that lost its claim can never start a side effect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from grace.audit._chain import AuditDraft, AuditEntry
from grace.errors import DuplicateIncident, FenceLost, Halted, RunError, StoreError
from grace.runs import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Run,
    RunStatus,
    StepAttempt,
    StepPhase,
    StepStatus,
    Ticket,
)
from grace.store import _audit_sql
from grace.store._convert import run_from_row, run_values, step_from_row, ticket_from_row, utc
from grace.store._cycles import CycleReads
from grace.store._database import create_db_engine, migrate
from grace.store._external_runs import EXTERNAL_TRIGGER, ExternalRuns
from grace.store._governance import EMERGENCY_STOP, GovernanceRecords
from grace.store._ingest import IngestRecords, intake_writer
from grace.store._learning import LearningReads
from grace.store._ports import PortRecords
from grace.store._progress import ProgressReads
from grace.store._switches import PlaybookSwitches
from grace.store._tables import audit_log as _audit
from grace.store._tables import controls as _controls
from grace.store._tables import runs as _runs
from grace.store._tables import step_attempts as _steps
from grace.store._tables import tickets as _tickets
from grace.store._tokens import TokenRecords
from grace.types import Clock, IdFactory, RandomIds, SystemClock

__all__ = ("AuditListener", "Store", "open_store")

AuditListener = Callable[[list[AuditEntry], float], None]
"""Called after a transaction that appended audit entries commits (mirror, checkpoints), with
the seconds from its first append to the end of its commit (the append latency metric)."""


def jsonable(value: Any) -> Any:
    """``value`` made JSON-safe (unknown types become strings), so nothing fails at commit."""
    return json.loads(json.dumps(value, default=str))


class _Tx:
    """One transaction plus the audit entries it appended."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.entries: list[AuditEntry] = []
        self.audit_began = 0.0
        """``time.perf_counter()`` at the first append (waits for the chain head included)."""

    def audit(self, *drafts: AuditDraft) -> None:
        if not self.entries:
            self.audit_began = time.perf_counter()
        self.entries.extend(_audit_sql.append_entries(self.conn, list(drafts), self.now))


class Store(
    IngestRecords,
    GovernanceRecords,
    TokenRecords,
    ExternalRuns,
    LearningReads,
    ProgressReads,
    CycleReads,
    PlaybookSwitches,
    PortRecords,
):
    """Durable state behind one SQLAlchemy engine."""

    def __init__(
        self, engine: Engine, *, clock: Clock | None = None, ids: IdFactory | None = None
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.ids: IdFactory = ids or RandomIds(self.clock)
        self._listeners: list[AuditListener] = []
        self._local = threading.local()
        self._intake = intake_writer(engine)

    # -- plumbing -------------------------------------------------------------------------

    def add_audit_listener(self, listener: AuditListener) -> None:
        """Call ``listener(entries)`` after every commit that appended audit entries."""
        self._listeners.append(listener)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """A write transaction; audit listeners run after it commits."""
        try:
            with self.engine.begin() as conn:
                tx = _Tx(conn, self.clock.now())
                yield tx
        except IntegrityError:
            raise  # a constraint said no: callers turn it into a domain error
        except (OperationalError, DBAPIError) as exc:
            msg = f"database error: {exc.orig}"
            raise StoreError(msg) from exc
        if tx.entries:
            append_s = time.perf_counter() - tx.audit_began
            for listener in self._listeners:
                listener(tx.entries, append_s)

    def close(self) -> None:
        """Release the intake's connection and every pooled one."""
        self._intake.close()
        self.engine.dispose()

    def append_audit(self, drafts: Sequence[AuditDraft]) -> list[AuditEntry]:
        """Append standalone audit entries (decisions not tied to a state change) in one commit."""
        with self.transaction() as tx:
            tx.audit(*drafts)
            return list(tx.entries)

    def audit_entries(
        self, *, subject: str | None = None, action: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Committed audit entries in chain order (filtered by subject and/or action)."""
        query = select(_audit).order_by(_audit.c.seq)
        if subject is not None:
            query = query.where(_audit.c.subject == subject)
        if action is not None:
            query = query.where(_audit.c.action == action)
        with self._read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [
            AuditEntry(r.seq, r.time, r.actor, r.action, r.subject, r.payload, r.prev_hash, r.hash)
            for r in rows
        ]

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self, run: Run, *, actor: str = "engine", reason: str = "", also: Sequence[AuditDraft] = ()
    ) -> Run:
        """Insert a new run and its ``run.created`` audit entry."""
        run_clean = run_values(run)
        for key in ("event", "captures", "vars", "outputs"):
            run_clean[key] = jsonable(run_clean[key])
        try:
            return self._insert_run(run, run_clean, actor=actor, reason=reason, also=also)
        except IntegrityError as exc:
            if run.idempotency_key is not None:
                earlier = self.run_for_idempotency_key(run.idempotency_key)
                if earlier is not None:
                    return earlier  # the client retried: the same request, the same run
            if run.dedupe_key is None:
                raise
            existing = self.open_run_for(run.dedupe_key)
            raise DuplicateIncident(run.dedupe_key, existing) from exc

    def run_for_idempotency_key(self, key: str) -> Run | None:
        """The run an API client created with this idempotency key, if any."""
        with self._read() as conn:
            row = conn.execute(select(_runs).where(_runs.c.idempotency_key == key)).first()
        return None if row is None else run_from_row(row)

    def open_run_for(self, dedupe_key: str) -> str | None:
        """The id of the active run for this incident, if any."""
        with self._read() as conn:
            row = conn.execute(
                select(_runs.c.id).where(
                    _runs.c.dedupe_key == dedupe_key,
                    _runs.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                )
            ).first()
        return None if row is None else str(row[0])

    def _insert_run(
        self,
        run: Run,
        run_clean: dict[str, Any],
        *,
        actor: str,
        reason: str,
        also: Sequence[AuditDraft],
    ) -> Run:
        with self.transaction() as tx:
            tx.conn.execute(insert(_runs).values(**run_clean))
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action="run.created",
                    subject=run.id,
                    payload={
                        "playbook": run.playbook,
                        "version": run.playbook_version,
                        "status": run.status.value,
                        "trigger": run.trigger,
                        "dry_run": run.dry_run,
                        "event_id": run.event.get("id"),
                        "service": run.service,
                        "reason": reason,
                        "dedupe_key": run.dedupe_key,
                        "requested_by": run.requested_by,
                        "risk_level": run.risk_level,
                        "approvals_needed": run.approvals_needed,
                        "expires_at": run.expires_at.isoformat() if run.expires_at else None,
                    },
                )
            )
            if also:
                tx.audit(*also)
        return run

    def get_run(self, run_id: str) -> Run:
        """The run with this id (a unique prefix of it also works).

        Raises:
            RunError: no run has this id, or the prefix is ambiguous.
        """
        with self._read() as conn:
            row = conn.execute(select(_runs).where(_runs.c.id == run_id)).first()
            if row is None and len(run_id) >= 6:
                rows = conn.execute(
                    select(_runs).where(_runs.c.id.startswith(run_id, autoescape=True)).limit(2)
                ).all()
                if len(rows) > 1:
                    msg = f"run id prefix {run_id!r} is ambiguous; give more characters"
                    raise RunError(msg)
                row = rows[0] if rows else None
        if row is None:
            err = RunError(f"no run with id {run_id!r}")
            err.hint = "list runs with 'grace runs'"
            raise err
        return run_from_row(row)

    def list_runs(
        self,
        *,
        active: bool = False,
        status: str | None = None,
        playbook: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]:
        """Runs, newest first, filtered."""
        query = select(_runs).order_by(_runs.c.created_at.desc(), _runs.c.id.desc())
        if active:
            query = query.where(_runs.c.status.in_([s.value for s in ACTIVE_STATUSES]))
        if status:
            query = query.where(_runs.c.status == status)
        if playbook:
            query = query.where(_runs.c.playbook == playbook)
        with self._read() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [run_from_row(r) for r in rows]

    def count_runs(self, *, status: str | None = None) -> int:
        """How many runs (in ``status``, when given)."""
        query = select(func.count()).select_from(_runs)
        if status:
            query = query.where(_runs.c.status == status)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def claim_run(self, run_id: str, *, owner: str, lease_s: float, force: bool = False) -> Run:
        """Take a queued run (or a running one whose lease expired): bump its fence, set the lease.

        ``force`` takes a running run even with a live lease: only for an owner known to be dead.
        Resuming a running run marks its open step attempts ``interrupted`` first.

        Raises:
            RunError: the run is in a state that cannot be claimed, or someone else holds it.
        """
        with self.transaction() as tx:
            row = self._locked_run(tx.conn, run_id)
            status = RunStatus(row.status)
            lease_live = (
                row.lease_expires_at is not None
                and utc(row.lease_expires_at) > tx.now
                and row.lease_owner != owner
            )
            if status not in (RunStatus.QUEUED, RunStatus.RUNNING) or (
                status is RunStatus.RUNNING and lease_live and not force
            ):
                msg = f"run {run_id} is {status.value}; it cannot be claimed"
                raise RunError(msg)
            if row.trigger == EXTERNAL_TRIGGER:  # an agent's own run: never executed here
                msg = f"run {run_id} was recorded by an external agent; Grace does not execute it"
                raise RunError(msg)
            self._refuse_if_stopped(tx.conn, run_id)
            if row.service and not row.dry_run:
                self.take_target(
                    tx.conn,
                    target=row.service,
                    run_id=run_id,
                    owner=owner,
                    until=tx.now + timedelta(seconds=lease_s),
                )
            if status is RunStatus.RUNNING:
                tx.conn.execute(
                    update(_steps)
                    .where(_steps.c.run_id == run_id, _steps.c.status == StepStatus.STARTED.value)
                    .values(
                        status=StepStatus.INTERRUPTED.value, finished_at=tx.now, error="worker died"
                    )
                )
            fence = row.fence + 1
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(
                    status=RunStatus.RUNNING.value,
                    fence=fence,
                    lease_owner=owner,
                    lease_expires_at=tx.now + timedelta(seconds=lease_s),
                    started_at=row.started_at or tx.now,
                )
            )
            tx.audit(
                AuditDraft(
                    actor=owner,
                    action="run.resumed" if status is RunStatus.RUNNING else "run.started",
                    subject=run_id,
                    payload={"fence": fence, "from": status.value},
                )
            )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    def renew_lease(self, run_id: str, *, fence: int, owner: str, lease_s: float) -> None:
        """Extend a held lease.

        Raises:
            FenceLost: the run was claimed by someone else or is no longer running.
        """
        with self.transaction() as tx:
            self._check_fence(tx.conn, run_id, fence)
            until = tx.now + timedelta(seconds=lease_s)
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(lease_owner=owner, lease_expires_at=until)
            )
            self.extend_target(tx.conn, run_id=run_id, until=until)

    def finish_run(
        self,
        run_id: str,
        *,
        fence: int | None,
        status: RunStatus,
        error: str | None = None,
        actor: str = "runner",
    ) -> Run:
        """Record a run's final status (fenced unless ``fence`` is None, for operators)."""
        if status not in TERMINAL_STATUSES:
            msg = f"{status.value} is not a final status"
            raise RunError(msg)
        with self.transaction() as tx:
            if fence is None:
                self._locked_run(tx.conn, run_id)
            else:
                self._check_fence(tx.conn, run_id, fence)
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(
                    status=status.value,
                    finished_at=tx.now,
                    lease_owner=None,
                    lease_expires_at=None,
                    error=error,
                    fence=_runs.c.fence + (1 if fence is None else 0),
                )
            )
            self.release_target(tx.conn, run_id=run_id)
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action=f"run.{status.value}",
                    subject=run_id,
                    payload={"error": error},
                )
            )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    def interrupt_run(self, run_id: str, *, reason: str, actor: str = "engine") -> Run:
        """Mark a run whose worker died ``interrupted``; its open step attempts too.

        The fence is bumped, so a worker that is in fact still alive cannot take another step.
        """
        with self.transaction() as tx:
            row = self._locked_run(tx.conn, run_id)
            open_steps = tx.conn.execute(
                select(_steps.c.id, _steps.c.step).where(
                    _steps.c.run_id == run_id, _steps.c.status == StepStatus.STARTED.value
                )
            ).all()
            if open_steps:
                tx.conn.execute(
                    update(_steps)
                    .where(_steps.c.id.in_([s.id for s in open_steps]))
                    .values(status=StepStatus.INTERRUPTED.value, finished_at=tx.now, error=reason)
                )
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(
                    status=RunStatus.INTERRUPTED.value,
                    finished_at=tx.now,
                    fence=row.fence + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    error=reason,
                )
            )
            self.release_target(tx.conn, run_id=run_id)
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action="run.interrupted",
                    subject=run_id,
                    payload={
                        "reason": reason,
                        "last_completed_step": row.last_completed_step,
                        "open_steps": [s.step for s in open_steps],
                    },
                )
            )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        expect: Sequence[RunStatus],
        actor: str,
        reason: str = "",
    ) -> Run:
        """Move a non-running run between states (queue a proposed run, reject one…)."""
        with self.transaction() as tx:
            row = self._locked_run(tx.conn, run_id)
            if RunStatus(row.status) not in expect:
                msg = f"run {run_id} is {row.status}; expected one of {', '.join(s.value for s in expect)}"
                raise RunError(msg)
            values: dict[str, Any] = {"status": status.value}
            if status in TERMINAL_STATUSES:
                values["finished_at"] = tx.now
            tx.conn.execute(update(_runs).where(_runs.c.id == run_id).values(**values))
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action=f"run.{status.value}",
                    subject=run_id,
                    payload={"from": row.status, "reason": reason},
                )
            )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == run_id)).one()
        return run_from_row(fresh)

    # -- steps ----------------------------------------------------------------------------

    def begin_step(
        self,
        run_id: str,
        *,
        fence: int,
        step: str,
        phase: StepPhase,
        index: int,
        attempt: int,
        action: str,
        params: dict[str, Any],
        status: StepStatus = StepStatus.STARTED,
        actor: str = "runner",
    ) -> StepAttempt:
        """The step gate: re-check the fence and record the step ``started`` before its side effect.

        Raises:
            FenceLost: another worker owns the run now; do not run the step.
        """
        with self.transaction() as tx:
            self._check_fence(tx.conn, run_id, fence)
            if phase is StepPhase.MAIN and status is StepStatus.STARTED:
                self._refuse_if_stopped(tx.conn, run_id)  # recovery steps may still run
            clean = jsonable(params)
            result = tx.conn.execute(
                insert(_steps).values(
                    run_id=run_id,
                    step=step,
                    phase=phase.value,
                    idx=index,
                    attempt=attempt,
                    action=action,
                    status=status.value,
                    started_at=tx.now,
                    finished_at=tx.now if status is not StepStatus.STARTED else None,
                    params=clean,
                    outputs={},
                    error=None,
                )
            )
            attempt_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action=f"step.{status.value}",
                    subject=run_id,
                    payload={
                        "step": step,
                        "phase": phase.value,
                        "attempt": attempt,
                        "action": action,
                        "params": clean,
                    },
                )
            )
            row = tx.conn.execute(select(_steps).where(_steps.c.id == attempt_id)).one()
        return step_from_row(row)

    def finish_step(
        self,
        attempt: StepAttempt,
        *,
        fence: int,
        status: StepStatus,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
        completed: bool = False,
        actor: str = "runner",
    ) -> StepAttempt:
        """Record a step attempt's outcome; ``completed`` also stores its outputs on the run."""
        clean = jsonable(outputs or {})
        with self.transaction() as tx:
            row = self._check_fence(tx.conn, attempt.run_id, fence)
            tx.conn.execute(
                update(_steps)
                .where(_steps.c.id == attempt.id)
                .values(status=status.value, finished_at=tx.now, outputs=clean, error=error)
            )
            if completed:
                run_outputs = dict(row.outputs or {})
                run_outputs[attempt.step] = clean
                values: dict[str, Any] = {"outputs": run_outputs}
                if attempt.phase is StepPhase.MAIN:  # resume points are main steps only
                    values["last_completed_step"] = attempt.step
                tx.conn.execute(update(_runs).where(_runs.c.id == attempt.run_id).values(**values))
            duration_ms = round((tx.now - attempt.started_at).total_seconds() * 1000, 3)
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action=f"step.{status.value}",
                    subject=attempt.run_id,
                    payload={
                        "step": attempt.step,
                        "phase": attempt.phase.value,
                        "attempt": attempt.attempt,
                        "duration_ms": duration_ms,
                        "error": error,
                    },
                )
            )
            fresh = tx.conn.execute(select(_steps).where(_steps.c.id == attempt.id)).one()
        return step_from_row(fresh)

    def running_runs(self) -> list[Run]:
        """Runs recorded ``running`` (after a crash, some have no live worker).

        Runs recorded by external agents are left out: no worker of Grace's ever holds them.
        """
        with self._read() as conn:
            rows = conn.execute(
                select(_runs).where(
                    _runs.c.status == RunStatus.RUNNING.value,
                    _runs.c.trigger != EXTERNAL_TRIGGER,
                )
            ).all()
        return [run_from_row(r) for r in rows]

    def step_attempts(self, run_id: str) -> list[StepAttempt]:
        """Every attempt of every step of a run, in the order they started."""
        with self._read() as conn:
            rows = conn.execute(
                select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.id)
            ).all()
        return [step_from_row(r) for r in rows]

    # -- tickets --------------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        title: str,
        body: str = "",
        severity: str = "warning",
        service: str = "",
        run_id: str | None = None,
        context: Any = None,
        actor: str = "runner",
    ) -> Ticket:
        """File a work order for a human."""
        ticket = Ticket(
            id=self.ids.new("tkt"),
            created_at=self.clock.now(),
            title=title,
            body=body,
            severity=severity,
            service=service,
            run_id=run_id,
            context=jsonable(dict(context or {})),
        )
        with self.transaction() as tx:
            tx.conn.execute(
                insert(_tickets).values(
                    id=ticket.id,
                    created_at=ticket.created_at,
                    title=title,
                    body=body,
                    severity=severity,
                    status="open",
                    service=service,
                    run_id=run_id,
                    context=ticket.context,
                    closed_at=None,
                )
            )
            tx.audit(
                AuditDraft(
                    actor=actor,
                    action="ticket.opened",
                    subject=ticket.id,
                    payload={
                        "title": title,
                        "severity": severity,
                        "service": service,
                        "run_id": run_id,
                    },
                )
            )
        return ticket

    def close_ticket(self, ticket_id: str, *, by: str, reason: str = "") -> Ticket:
        """Close an open ticket, with who and why in the audit log.

        Raises:
            RunError: no ticket has this id, or it is already closed.
        """
        with self.transaction() as tx:
            closed = tx.conn.execute(
                update(_tickets)
                .where(_tickets.c.id == ticket_id, _tickets.c.status == "open")
                .values(status="closed", closed_at=tx.now)
                .returning(_tickets.c.id)
            ).all()
            if not closed:
                exists = tx.conn.execute(
                    select(_tickets.c.status).where(_tickets.c.id == ticket_id)
                ).scalar_one_or_none()
                msg = (
                    f"no ticket with id {ticket_id!r}"
                    if exists is None
                    else f"ticket {ticket_id} is already closed"
                )
                raise RunError(msg)
            tx.audit(AuditDraft(by, "ticket.closed", ticket_id, {"reason": reason}))
            row = tx.conn.execute(select(_tickets).where(_tickets.c.id == ticket_id)).one()
        return ticket_from_row(row)

    def list_tickets(self, *, status: str | None = "open", limit: int = 100) -> list[Ticket]:
        """Tickets, newest first."""
        query = select(_tickets).order_by(_tickets.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(_tickets.c.status == status)
        with self._read() as conn:
            return [ticket_from_row(r) for r in conn.execute(query).all()]

    # -- helpers --------------------------------------------------------------------------

    def _locked_run(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(select(_runs).where(_runs.c.id == run_id).with_for_update()).first()
        if row is None:
            msg = f"no run with id {run_id!r}"
            raise RunError(msg)
        return row

    def _refuse_if_stopped(self, conn: Connection, run_id: str) -> None:
        stop = conn.execute(
            select(_controls.c.value).where(_controls.c.name == EMERGENCY_STOP)
        ).scalar_one_or_none()
        if stop is not None:
            msg = (
                f"emergency_stop: {stop.get('reason', '')} (by {stop.get('by', '?')}); "
                f"run {run_id} takes no further step"
            )
            err = Halted(msg)
            err.hint = "lift it with 'grace resume' once it is safe"
            raise err

    def _check_fence(self, conn: Connection, run_id: str, fence: int) -> Any:
        row = self._locked_run(conn, run_id)
        if row.fence != fence or row.status != RunStatus.RUNNING.value:
            msg = (
                f"run {run_id} moved on (status {row.status}, fence {row.fence}, ours {fence}); "
                "not starting another step"
            )
            raise FenceLost(msg)
        return row


def open_store(url: str, *, clock: Clock | None = None, ids: IdFactory | None = None) -> Store:
    """Open (and create or migrate) the database at ``url``."""
    engine = create_db_engine(url)
    migrate(engine)
    return Store(engine, clock=clock, ids=ids)
