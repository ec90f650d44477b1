"""What self-healing learned and whether it keeps up: outcome buckets per playbook (and per
incident signature and trigger) over the last 24 hours and 7 days, recent outcomes, the
pipeline's counters and the runner's progress.

Everything is read from the store (every node's runs) except the pipeline counters, which
belong to the daemon the API runs in; served outside a daemon, the counters come from the
store alone (``source: store``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from grace.api._deps import EngineDep, StateDep
from grace.api.routes.agent_runs import Limit, Offset, PlaybookFilter, as_utc
from grace.api.routes.runs import call_engine
from grace.api.schemas import ErrorReply
from grace.runs import Run, RunStatus
from grace.store import EXTERNAL_TRIGGER, OutcomeGroup, RunnerProgress

__all__ = (
    "WINDOWS",
    "Bucket",
    "CountersReply",
    "LearningReply",
    "OutcomePage",
    "OutcomeReply",
    "PipelineCountersReply",
    "SchedulerHealthReply",
    "StoreCountersReply",
    "WindowReply",
    "buckets",
    "router",
    "scheduler_state",
)

router = APIRouter(prefix="/api/self_heal", tags=["learning"])

WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
)
"""The windows outcomes are bucketed over, by name."""

OutcomeStatus = Literal["succeeded", "failed", "rolled_back", "timed_out", "aborted", "interrupted"]

_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorReply, "description": "A query parameter is invalid."},
    503: {"model": ErrorReply, "description": "The server has no engine, or no database."},
}


class Bucket(BaseModel):
    """Outcomes of one playbook (and, in the finer lists, one signature or trigger)."""

    playbook: str
    signature: str | None = None
    """The incident signature (``""``: runs without one, manual or recorded by an agent)."""
    trigger: str | None = None
    """``event``, ``manual``, ``api``, ``schedule``, ``playbook.run`` or ``external``."""
    runs: int
    succeeded: int
    failed: int
    """Every other outcome: ``failed``, ``rolled_back``, ``timed_out``, ``aborted``…"""
    success_rate: float
    """``succeeded / runs``, 0…1."""
    mean_duration_s: float | None
    """Mean of ``finished_at - started_at`` (None when no run has both)."""


class WindowReply(BaseModel):
    """Outcomes of the runs that finished in one window."""

    window: str
    """``24h`` or ``7d``."""
    since: datetime
    runs: int
    succeeded: int
    failed: int
    success_rate: float | None
    """None when no run finished in the window."""
    playbooks: list[Bucket]
    signatures: list[Bucket]
    """Per (playbook, signature)."""
    triggers: list[Bucket]
    """Per (playbook, trigger)."""


class LearningReply(BaseModel):
    """``GET /api/self_heal/learning``."""

    now: datetime
    windows: list[WindowReply]


class OutcomeReply(BaseModel):
    """One finished run, as learning sees it."""

    run_id: str
    playbook: str
    service: str
    trigger: str
    origin: Literal["grace", "external"]
    """``external``: recorded by an agent (``POST /api/agent/runs``)."""
    signature: str
    status: str
    succeeded: bool
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str | None


class OutcomePage(BaseModel):
    """One page of outcomes, most recently finished first."""

    total: int
    limit: int
    offset: int
    items: list[OutcomeReply]


class PipelineCountersReply(BaseModel):
    """The daemon's pipeline counters since it started (this process only)."""

    received: dict[str, int]
    """Events accepted, by source."""
    duplicates: dict[str, int]
    dropped: dict[str, int]
    """Events dropped, by reason."""
    matched: int
    decisions: dict[str, int]
    """Decisions by kind."""
    suppressed: dict[str, int]
    """Suppressed diagnoses, by guard."""
    runs_finished: dict[str, int]
    queue_depth: int
    """Events waiting for the matcher now."""
    queue_full_waits: int


class StoreCountersReply(BaseModel):
    """Totals in the store since the database was created (every node's work)."""

    events: int
    decisions: dict[str, int]
    """Decisions by kind (from the audit log)."""
    runs: dict[str, int]
    """Runs by status."""


class CountersReply(BaseModel):
    """``GET /api/self_heal/scheduler_counters``."""

    source: Literal["pipeline", "store"]
    """``pipeline`` when the API runs inside the daemon (``pipeline`` is set)."""
    pipeline: PipelineCountersReply | None
    store: StoreCountersReply


class StopInfo(BaseModel):
    """The emergency stop in force."""

    by: str
    reason: str


class SchedulerHealthReply(BaseModel):
    """``GET /api/self_heal/scheduler_health``: is the runner making progress?"""

    state: Literal["ok", "degraded", "stalled"]
    reasons: list[str]
    """Why it is not ``ok`` (empty when it is)."""
    checked_at: datetime
    stale_after_s: float
    queued: int
    queued_stale: int
    """Queued runs older than ``stale_after_s``."""
    oldest_queued_age_s: float | None
    running: int
    """Runs Grace's workers hold."""
    running_external: int
    """Open runs recorded by external agents (not Grace's workers' work)."""
    lease_expired: int
    """Running runs whose worker lease expired."""
    last_started_at: datetime | None
    last_finished_at: datetime | None
    emergency_stop: StopInfo | None


def _bucket(groups: list[OutcomeGroup], **labels: Any) -> Bucket:
    runs = sum(g.runs for g in groups)
    ok = sum(g.succeeded for g in groups)
    timed = sum(g.timed for g in groups)
    took = sum(g.duration_sum_s for g in groups)
    return Bucket(
        **labels,
        runs=runs,
        succeeded=ok,
        failed=runs - ok,
        success_rate=round(ok / runs, 4) if runs else 0.0,
        mean_duration_s=round(took / timed, 3) if timed else None,
    )


def buckets(name: str, since: datetime, groups: list[OutcomeGroup]) -> WindowReply:
    """One window's reply from the store's (playbook, signature, trigger) groups."""
    by_playbook: dict[str, list[OutcomeGroup]] = {}
    by_signature: dict[tuple[str, str], list[OutcomeGroup]] = {}
    by_trigger: dict[tuple[str, str], list[OutcomeGroup]] = {}
    for g in groups:
        by_playbook.setdefault(g.playbook, []).append(g)
        by_signature.setdefault((g.playbook, g.signature), []).append(g)
        by_trigger.setdefault((g.playbook, g.trigger), []).append(g)
    total = _bucket(groups, playbook="*")
    return WindowReply(
        window=name,
        since=since,
        runs=total.runs,
        succeeded=total.succeeded,
        failed=total.failed,
        success_rate=total.success_rate if total.runs else None,
        playbooks=[_bucket(v, playbook=k) for k, v in sorted(by_playbook.items())],
        signatures=[
            _bucket(v, playbook=p, signature=s) for (p, s), v in sorted(by_signature.items())
        ],
        triggers=[_bucket(v, playbook=p, trigger=t) for (p, t), v in sorted(by_trigger.items())],
    )


@router.get(
    "/learning",
    response_model=LearningReply,
    responses=_ERRORS,
    summary="Outcome buckets per playbook, signature and trigger (24 h, 7 d)",
)
async def learning(engine: EngineDep, playbook: PlaybookFilter = None) -> LearningReply:
    """Runs that finished in the last 24 hours and 7 days: how many, how many succeeded, the
    success rate and the mean duration, per playbook, per (playbook, signature) and per
    (playbook, trigger). Runs recorded by external agents count too (trigger ``external``)."""
    now = engine.clock.now()

    def read() -> list[WindowReply]:
        out = []
        for name, span in WINDOWS:
            since = now - span
            groups = engine.store.outcome_groups(since=since)
            if playbook:
                groups = [g for g in groups if g.playbook == playbook]
            out.append(buckets(name, since, groups))
        return out

    return LearningReply(now=now, windows=await call_engine(read))


def _outcome(run: Run) -> OutcomeReply:
    key = run.dedupe_key or ""
    head, sep, tail = key.partition(":")
    return OutcomeReply(
        run_id=run.id,
        playbook=run.playbook,
        service=run.service,
        trigger=run.trigger,
        origin="external" if run.trigger == EXTERNAL_TRIGGER else "grace",
        signature=tail if sep and head == run.playbook else key,
        status=run.status.value,
        succeeded=run.status is RunStatus.SUCCEEDED,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        error=run.error,
    )


@router.get(
    "/learning/outcomes",
    response_model=OutcomePage,
    responses=_ERRORS,
    summary="Recent outcomes, paged and filtered",
)
async def outcomes(
    engine: EngineDep,
    playbook: PlaybookFilter = None,
    service: Annotated[
        str | None, Query(max_length=200, description="Only runs on this service.")
    ] = None,
    status: Annotated[OutcomeStatus | None, Query(description="Only this outcome.")] = None,
    since: Annotated[
        datetime | None, Query(description="Only runs finished at or after this time (UTC).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OutcomePage:
    """Finished runs (each one outcome), most recently finished first."""
    runs, total = await call_engine(
        partial(
            engine.store.list_outcomes,
            playbook=playbook,
            service=service,
            status=status,
            since=as_utc(since, "query.since"),
            limit=limit,
            offset=offset,
        )
    )
    return OutcomePage(total=total, limit=limit, offset=offset, items=[_outcome(r) for r in runs])


@router.get(
    "/scheduler_counters",
    response_model=CountersReply,
    responses={503: _ERRORS[503]},
    summary="The pipeline's counters (in the daemon), and the store's totals",
)
async def scheduler_counters(engine: EngineDep, state: StateDep) -> CountersReply:
    """Events ingested, duplicates and drops, matches, decisions by kind, suppressions by
    guard, runs finished and the queue depth, from the daemon's pipeline when the API runs in
    it; and always the store's totals (events, decisions by kind, runs by status)."""
    counters: Any = getattr(state.ingest, "counters", None)
    snapshot = getattr(counters, "snapshot", None)
    pipeline = PipelineCountersReply.model_validate(snapshot()) if callable(snapshot) else None
    totals = await call_engine(engine.store.store_counters)
    return CountersReply(
        source="pipeline" if pipeline is not None else "store",
        pipeline=pipeline,
        store=StoreCountersReply(
            events=totals.events, decisions=totals.decisions, runs=totals.runs
        ),
    )


def scheduler_state(
    progress: RunnerProgress, stop: dict[str, Any] | None, stale_after: timedelta
) -> tuple[Literal["ok", "degraded", "stalled"], list[str]]:
    """``ok``, ``degraded`` or ``stalled``, with the reasons, from what the store shows.

    Stalled: queued runs waited past ``stale_after`` and no run started in that time (no
    worker picks runs up). Degraded: queued runs waited that long while runs still start
    (workers saturated), a running run's lease expired (a dead worker), or the emergency stop
    is in force.
    """
    reasons: list[str] = []
    stalled = False
    limit = stale_after.total_seconds()
    if progress.queued_stale:
        started = progress.last_started_at
        recent = started is not None and started >= progress.now - stale_after
        if recent:
            reasons.append(
                f"{progress.queued_stale} queued run(s) waited over {limit:g} s; runs still "
                "start, so the workers are saturated"
            )
        else:
            stalled = True
            reasons.append(
                f"{progress.queued_stale} queued run(s) waited over {limit:g} s and no run "
                f"started in that time: no worker is picking runs up (is 'grace serve' running?)"
            )
    if progress.lease_expired:
        reasons.append(
            f"{progress.lease_expired} running run(s) hold an expired lease: their worker died "
            "or is stalled (a restart resumes or interrupts them)"
        )
    if stop is not None:
        reasons.append(
            f"the emergency stop is in force (by {stop.get('by', '?')}: "
            f"{stop.get('reason', '')}); nothing starts until 'grace resume'"
        )
    if stalled:
        return "stalled", reasons
    return ("degraded" if reasons else "ok"), reasons


@router.get(
    "/scheduler_health",
    response_model=SchedulerHealthReply,
    responses=_ERRORS,
    summary="Is the runner making progress?",
)
async def scheduler_health(
    engine: EngineDep,
    stale_after_s: Annotated[
        float, Query(ge=1, le=7 * 24 * 3600, description="A queued run older than this is stale.")
    ] = 60.0,
) -> SchedulerHealthReply:
    """Queued runs (and those older than ``stale_after_s``), the oldest one's age, running
    runs, expired leases, the last run started and finished, and the emergency stop; the state
    is ``ok``, ``degraded`` or ``stalled`` with its reasons."""
    now = engine.clock.now()
    stale_after = timedelta(seconds=stale_after_s)

    def read() -> tuple[RunnerProgress, dict[str, Any] | None]:
        progress = engine.store.runner_progress(now=now, stale_after=stale_after)
        return progress, engine.store.emergency_stop()

    progress, stop = await call_engine(read)
    state, reasons = scheduler_state(progress, stop, stale_after)
    oldest = progress.oldest_queued_at
    return SchedulerHealthReply(
        state=state,
        reasons=reasons,
        checked_at=now,
        stale_after_s=stale_after_s,
        queued=progress.queued,
        queued_stale=progress.queued_stale,
        oldest_queued_age_s=None if oldest is None else max((now - oldest).total_seconds(), 0.0),
        running=progress.running,
        running_external=progress.running_external,
        lease_expired=progress.lease_expired,
        last_started_at=progress.last_started_at,
        last_finished_at=progress.last_finished_at,
        emergency_stop=None
        if stop is None
        else StopInfo(by=str(stop.get("by", "")), reason=str(stop.get("reason", ""))),
    )
