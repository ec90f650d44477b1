"""Runs that an external agent performed itself and records here (``trigger = "external"``).

An agent outside Grace (an operator's script, an AI agent, another remediation tool) declares a
run, appends the step attempts it performed, then completes it. The records land in the same
``runs`` and ``step_attempts`` tables as Grace's own runs, with the same audit entries
(``run.created``, ``run.started``, ``step.<status>``, ``run.<final status>``), so every read
(``grace runs``, the timeline, the active list, learning) shows them.

How they are kept away from Grace's runner: a recorded run is created straight in ``running``
with ``trigger = "external"`` and no lease. It is never ``queued``, so the pipeline's durable
queue (queued runs) never dispatches it; :meth:`Store.claim_run` refuses any run whose trigger
is :data:`EXTERNAL_TRIGGER`, and :meth:`Store.running_runs` (what crash recovery scans for
orphans) leaves them out, so a worker can neither execute nor resume nor interrupt one. No
target lock is taken (Grace does not act on the service) and no dedupe key is set (an agent's
run does not hold an incident open against Grace's own repairs).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from grace.audit._chain import AuditDraft
from grace.errors import RunError
from grace.runs import TERMINAL_STATUSES, Run, RunStatus, StepAttempt, StepPhase, StepStatus
from grace.store._convert import aware, run_from_row, run_values, step_from_row, utc
from grace.store._reads import Reads
from grace.store._tables import events as _events
from grace.store._tables import runs as _runs
from grace.store._tables import step_attempts as _steps

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from grace.types import Clock, IdFactory

__all__ = (
    "EXTERNAL_TRIGGER",
    "EXTERNAL_VERSION",
    "RECORDED_FINAL",
    "RECORDED_STEP",
    "ExternalRuns",
    "NotExternal",
)

EXTERNAL_TRIGGER = "external"
"""The ``trigger`` of a run recorded by an external agent (Grace's runner never claims one)."""

EXTERNAL_VERSION = "external"
"""``playbook_version`` of a recorded run whose agent gave no version."""

RECORDED_STEP: frozenset[StepStatus] = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED}
)
"""Outcomes an agent may record for a step (it reports finished attempts only)."""

RECORDED_FINAL: frozenset[RunStatus] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
"""Final statuses an agent may complete its run with."""


class NotExternal(RunError):
    """The run was not recorded by an external agent: only Grace's runner writes to it."""

    def __init__(self, run_id: str, trigger: str) -> None:
        super().__init__(
            f"run {run_id} was started by Grace (trigger {trigger!r}), not recorded by an "
            "external agent; only Grace's runner records its steps and its end"
        )
        self.hint = "record your own run first: POST /api/agent/runs"


class ExternalRuns(Reads):
    """The store's side of recorded runs (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock
    ids: IdFactory

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

        def _locked_run(self, conn: Connection, run_id: str) -> Any: ...

    def record_external_run(
        self,
        *,
        agent: str,
        playbook: str,
        service: str,
        version: str = EXTERNAL_VERSION,
        started_at: datetime | None = None,
        event_id: str | None = None,
        reason: str = "",
        vars: dict[str, Any] | None = None,
    ) -> Run:
        """Insert a recorded run, ``running`` since ``started_at`` (default: now).

        The triggering event, when ``event_id`` names one the store holds, is copied onto the
        run as Grace's own runs carry theirs; an id the store does not know is kept as given.
        Audited as ``run.created`` then ``run.started`` (actor: the agent), in one transaction.

        Raises:
            ValueError: ``started_at`` is later than now.
        """
        with self.transaction() as tx:
            now: datetime = tx.now
            start = aware(started_at) or now
            if start > now:
                msg = f"started_at {start.isoformat()} is in the future (now {now.isoformat()})"
                raise ValueError(msg)
            event: dict[str, Any] = {}
            if event_id is not None:
                event = _event_dict(tx.conn, event_id) or {"id": event_id}
            run = Run(
                id=self.ids.new("run"),
                playbook=playbook,
                playbook_version=version,
                status=RunStatus.RUNNING,
                created_at=now,
                trigger=EXTERNAL_TRIGGER,
                event=event,
                vars=dict(vars or {}),
                service=service,
                requested_by=agent,
                started_at=start,
                severity=str(event.get("severity", "")),
            )
            tx.conn.execute(insert(_runs).values(**run_values(run)))
            tx.audit(
                AuditDraft(
                    agent,
                    "run.created",
                    run.id,
                    {
                        "playbook": playbook,
                        "version": version,
                        "status": RunStatus.RUNNING.value,
                        "trigger": EXTERNAL_TRIGGER,
                        "dry_run": False,
                        "event_id": event_id,
                        "service": service,
                        "reason": reason,
                        "dedupe_key": None,
                        "requested_by": agent,
                    },
                ),
                AuditDraft(
                    agent,
                    "run.started",
                    run.id,
                    {"from": "recorded", "started_at": start.isoformat()},
                ),
            )
        return run

    def record_external_step(
        self,
        run_id: str,
        *,
        actor: str,
        step: str,
        status: StepStatus,
        started_at: datetime,
        finished_at: datetime,
        action: str = EXTERNAL_TRIGGER,
        params: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> StepAttempt:
        """Append one finished step attempt to a recorded run, audited as ``step.<status>``.

        A step name seen before on this run is a retry: it keeps its position and the attempt
        number goes up; a new name takes the next position.

        Raises:
            NotExternal: Grace's runner owns the run.
            RunError: the run is already finished.
            ValueError: the status is not one an agent may record, or the times are reversed.
        """
        if status not in RECORDED_STEP:
            msg = f"a recorded step is succeeded, failed or skipped, not {status.value}"
            raise ValueError(msg)
        started_at, finished_at = utc(started_at), utc(finished_at)
        if finished_at < started_at:
            msg = f"step {step!r} ends ({finished_at}) before it starts ({started_at})"
            raise ValueError(msg)
        with self.transaction() as tx:
            row = self._open_external(tx.conn, run_id)
            earlier = tx.conn.execute(
                select(_steps.c.idx, func.max(_steps.c.attempt))
                .where(
                    _steps.c.run_id == row.id,
                    _steps.c.phase == StepPhase.MAIN.value,
                    _steps.c.step == step,
                )
                .group_by(_steps.c.idx)
            ).first()
            if earlier is not None:
                index, attempt = int(earlier[0]), int(earlier[1]) + 1
            else:
                last = tx.conn.execute(
                    select(func.max(_steps.c.idx)).where(_steps.c.run_id == row.id)
                ).scalar()
                index, attempt = (-1 if last is None else int(last)) + 1, 1
            clean_outputs = dict(outputs or {})
            result = tx.conn.execute(
                insert(_steps).values(
                    run_id=row.id,
                    step=step,
                    phase=StepPhase.MAIN.value,
                    idx=index,
                    attempt=attempt,
                    action=action,
                    status=status.value,
                    started_at=started_at,
                    finished_at=finished_at,
                    params=dict(params or {}),
                    outputs=clean_outputs,
                    error=error,
                )
            )
            attempt_id = int(result.inserted_primary_key[0])
            if status is StepStatus.SUCCEEDED:
                run_outputs = dict(row.outputs or {})
                run_outputs[step] = clean_outputs
                tx.conn.execute(
                    update(_runs)
                    .where(_runs.c.id == row.id)
                    .values(outputs=run_outputs, last_completed_step=step)
                )
            tx.audit(
                AuditDraft(
                    actor,
                    f"step.{status.value}",
                    row.id,
                    {
                        "step": step,
                        "phase": StepPhase.MAIN.value,
                        "attempt": attempt,
                        "action": action,
                        "duration_ms": round((finished_at - started_at).total_seconds() * 1000, 3),
                        "error": error,
                        "recorded": True,
                    },
                )
            )
            fresh = tx.conn.execute(select(_steps).where(_steps.c.id == attempt_id)).one()
        return step_from_row(fresh)

    def complete_external_run(
        self,
        run_id: str,
        *,
        actor: str,
        status: RunStatus,
        finished_at: datetime | None = None,
        error: str | None = None,
    ) -> Run:
        """Give a recorded run its final status, audited as ``run.<status>``.

        Raises:
            NotExternal: Grace's runner owns the run.
            RunError: the run is already finished.
            ValueError: the status is not succeeded or failed, or the end is out of range.
        """
        if status not in RECORDED_FINAL:
            msg = f"a recorded run ends succeeded or failed, not {status.value}"
            raise ValueError(msg)
        with self.transaction() as tx:
            row = self._open_external(tx.conn, run_id)
            end = aware(finished_at) or tx.now
            started = aware(row.started_at)
            if end > tx.now or (started is not None and end < started):
                msg = f"finished_at {end.isoformat()} is not between the run's start and now"
                raise ValueError(msg)
            tx.conn.execute(
                update(_runs)
                .where(_runs.c.id == row.id)
                .values(status=status.value, finished_at=end, error=error)
            )
            tx.audit(
                AuditDraft(
                    actor,
                    f"run.{status.value}",
                    row.id,
                    {"error": error, "recorded": True, "finished_at": end.isoformat()},
                )
            )
            fresh = tx.conn.execute(select(_runs).where(_runs.c.id == row.id)).one()
        return run_from_row(fresh)

    def _open_external(self, conn: Connection, run_id: str) -> Any:
        """The recorded run ``run_id``, locked, still open.

        Raises:
            NotExternal: Grace's runner owns it.
            RunError: it is already finished.
        """
        row = self._locked_run(conn, run_id)
        if row.trigger != EXTERNAL_TRIGGER:
            raise NotExternal(row.id, row.trigger)
        if RunStatus(row.status) in TERMINAL_STATUSES:
            err = RunError(f"run {row.id} is already {row.status}; a completed run takes no more")
            err.hint = "record a new run for another attempt"
            raise err
        return row


def _event_dict(conn: Connection, event_id: str) -> dict[str, Any] | None:
    """The stored event ``event_id`` in ``Event.to_dict()`` form, or None."""
    row = conn.execute(select(_events).where(_events.c.id == event_id)).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "time": _iso(row.time),
        "source": row.source,
        "kind": row.kind,
        "service": row.service,
        "severity": row.severity,
        "message": row.message,
        "attributes": dict(row.attributes or {}),
    }


def _iso(value: datetime) -> str:
    return utc(value).isoformat()
