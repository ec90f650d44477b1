"""What each page shows, read from the store (blocking: the routes call these in a thread).

Only :class:`grace.store.Store` methods and the engine's loaded playbooks: no SQL here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from grace.api.routes.playbooks import stats_of
from grace.runs import PENDING_STATUSES, TERMINAL_STATUSES, Run, StepAttempt
from grace.status import build_status

if TYPE_CHECKING:
    from grace.audit import AuditEntry
    from grace.engine import Engine
    from grace.runs import Ticket
    from grace.status import StatusReport
    from grace.store import Approval

__all__ = (
    "ALL_ROWS",
    "CHART_WIDTH",
    "STALE_AFTER",
    "Bar",
    "RunView",
    "Runner",
    "audit_entries",
    "event_rows",
    "overview",
    "pending",
    "playbook_rows",
    "run_view",
    "tickets",
    "verify_audit",
)

STALE_AFTER = timedelta(seconds=60)
"""A queued run waiting longer than this makes the runner ``degraded`` or ``stalled``."""
ALL_ROWS = 2**31 - 1
"""``limit`` meaning every row (for the reads the store cannot page from the end yet)."""
CHART_WIDTH = 1000.0
"""The timeline's SVG ``viewBox`` width (it scales to the page)."""


@dataclass(frozen=True, slots=True)
class Runner:
    """Is the runner making progress (as ``GET /api/self_heal/scheduler_health`` says)."""

    state: str
    """``ok``, ``degraded`` or ``stalled``."""
    reasons: list[str]
    queued: int
    running: int


def overview(engine: Engine, *, verify: bool) -> tuple[StatusReport, Runner]:
    """The ``grace status`` report (``verify``: walk the audit chain too) and the runner's
    health."""
    from grace.api.routes.learning import scheduler_state

    now = engine.clock.now()
    report = build_status(engine.store, engine.settings, now=now, verify_audit=verify)
    progress = engine.store.runner_progress(now=now, stale_after=STALE_AFTER)
    state, reasons = scheduler_state(progress, report.emergency_stop, STALE_AFTER)
    return report, Runner(state, reasons, progress.queued, progress.running)


def pending(engine: Engine) -> list[Run]:
    """Runs waiting on a human, oldest first (expired ones are marked first, as the API does)."""
    engine.store.expire_pending()
    return engine.store.pending_runs()


def playbook_rows(engine: Engine) -> tuple[list[dict[str, Any]], list[tuple[str, list[Any]]]]:
    """Every loaded playbook with its run statistics and switch (who disabled it, when, why),
    and the files that failed to load."""
    every = engine.store.list_runs(limit=ALL_ROWS)
    off = engine.store.disabled_playbooks()
    by_name: dict[str, list[Run]] = {name: [] for name in engine.playbooks}
    for run in every:
        by_name.setdefault(run.playbook, []).append(run)
    rows = []
    for name in sorted(by_name):
        pb = engine.playbooks.get(name)
        rows.append(
            {
                "name": name,
                "playbook": pb,
                "meta": None if pb is None else pb.spec.metadata,
                "stats": stats_of(name, by_name[name], loaded=pb is not None),
                "disabled": off.get(name),
            }
        )
    rejected: dict[str, list[Any]] = {}
    for err in engine.playbook_errors:
        for problem in err.problems:
            rejected.setdefault(problem.file, []).append(problem)
    return rows, sorted(rejected.items())


@dataclass(frozen=True, slots=True)
class Bar:
    """One step attempt on the timeline: its bar's ``x`` and ``width`` in SVG user units of a
    ``CHART_WIDTH``-wide lane."""

    attempt: StepAttempt
    offset_ms: float
    """When the attempt started, in milliseconds after the run started."""
    x: float
    width: float
    """At least 3 units, so an instant step still shows."""


@dataclass(frozen=True, slots=True)
class RunView:
    """A run, its steps as timeline bars, and the verdicts given on it."""

    run: Run
    bars: list[Bar]
    span_ms: float
    """What the chart's width stands for: the run's duration, or its steps' extent so far."""
    approvals: list[Approval]
    final: bool
    """The run has ended: its page stops polling."""
    ticks: list[tuple[float, float]] = field(default_factory=list)
    """(x, milliseconds) for the chart's axis labels."""


def run_view(engine: Engine, run_id: str) -> RunView:
    """The run (by id or unique prefix), laid out for the run page.

    Raises:
        RunError: no run, or no single run, has this id.
    """
    if engine.store.get_run(run_id).status in PENDING_STATUSES:
        engine.store.expire_pending()
    run = engine.store.get_run(run_id)
    attempts = engine.store.step_attempts(run.id)
    approvals = engine.store.approvals_of(run.id)
    origin = run.started_at or run.created_at
    now = engine.clock.now()
    spans = []
    for a in attempts:
        offset = (a.started_at - origin).total_seconds() * 1000
        duration = a.duration_ms
        if duration is None:  # still running: draw it up to now
            duration = max((now - a.started_at).total_seconds() * 1000, 0.0)
        spans.append((a, max(offset, 0.0), duration))
    total = max((o + d for _, o, d in spans), default=0.0)
    if run.duration_s is not None:
        total = max(total, run.duration_s * 1000)
    total = max(total, 1.0)
    scale = CHART_WIDTH / total
    bars = [Bar(a, o, round(o * scale, 2), round(max(d * scale, 3.0), 2)) for a, o, d in spans]
    ticks = [(round(CHART_WIDTH * k / 4, 2), total * k / 4) for k in range(5)]
    return RunView(
        run=run,
        bars=bars,
        span_ms=total,
        approvals=approvals,
        final=run.status in TERMINAL_STATUSES,
        ticks=ticks,
    )


def event_rows(engine: Engine, *, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """The latest events received (newest first), each with the run it started if any, and
    how many events the store holds in all."""
    recorded = engine.store.recent_events(limit=limit)
    started = {str(run.event.get("id", "")): run for run in engine.store.list_runs(limit=limit * 5)}
    rows = [{"event": rec.event.to_dict(), "run": started.get(rec.event.id)} for rec in recorded]
    return rows, engine.store.count_events()


def tickets(engine: Engine, *, limit: int = 100) -> tuple[list[Ticket], list[Ticket]]:
    """Open tickets (newest first), and the latest closed ones."""
    everything = engine.store.list_tickets(status=None, limit=limit * 2)
    opened = [t for t in everything if t.status == "open"]
    closed = [t for t in everything if t.status != "open"][:limit]
    return opened, closed


def audit_entries(engine: Engine, *, limit: int = 100) -> tuple[list[AuditEntry], int]:
    """The newest ``limit`` audit entries, newest first, and how many there are.

    The store reads the chain from its start only (as ``GET /api/audit`` does), so this reads
    every entry: the audit page polls it slowly (15 s).
    """
    every = engine.store.audit_entries(limit=ALL_ROWS)
    latest = every[-limit:]
    latest.reverse()
    return latest, len(every)


def verify_audit(engine: Engine) -> dict[str, Any]:
    """Walk the whole chain and check the signed checkpoints (what ``grace audit verify`` does)."""
    from dataclasses import asdict

    from grace.audit import PUBLIC_KEY_FILE, load_public_keys, verify

    public = engine.settings.data_dir / PUBLIC_KEY_FILE
    keys = load_public_keys(public) if public.exists() else None
    started: datetime = engine.clock.now()
    report = asdict(verify(engine.store.engine, public_keys=keys))
    report["at"] = started
    return report
