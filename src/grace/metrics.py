"""Prometheus metrics read from real state on every scrape: the pipeline's counters and the store.

A :class:`GraceCollector` holds no numbers of its own. Each scrape calls the pipeline's
counters provider (an in-memory snapshot, free) and runs a few aggregate queries on the store
(one ``GROUP BY`` each: runs, step durations, recovery times, circuits; three small reads for
the emergency stop and the audit chain's tail). The collector is registered on a fresh
:class:`prometheus_client.CollectorRegistry` per app (:func:`build_registry`), never on the
global one, so several apps in one process (tests) do not clash.

The audit append latency is measured where appends happen (:class:`grace.audit.AuditLog`
observes every commit that appended entries, ``time.perf_counter`` around it) and read here
from its in-memory histogram, like the pipeline counters.

The SQL here is read-only and uses the store's Core tables directly: it is the store's
``metrics`` read, kept beside its only reader until the store grows a method for it.
Names, labels and units: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Float, case, cast, extract, func, select
from sqlalchemy.exc import SQLAlchemyError

from grace.runs import RunStatus, StepStatus
from grace.store import _tables as t
from grace.types import Clock, SystemClock

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection, Engine

    from grace.audit._log import LatencySnapshot
    from grace.engine import Engine as GraceEngine

__all__ = (
    "APPROVAL_STATUSES",
    "CONTENT_TYPE",
    "METRIC_NAMES",
    "STEP_BUCKETS",
    "GraceCollector",
    "MetricSources",
    "build_registry",
    "sources_for",
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus 2.x parses (prometheus-client's own default)."""

STEP_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
"""Upper bounds (seconds) of the step duration histogram's buckets (``+Inf`` is added)."""

APPROVAL_STATUSES: tuple[str, ...] = (
    RunStatus.AWAITING_APPROVAL.value,
    RunStatus.BLOCKED_CHANGE_WINDOW.value,
)
"""Runs waiting for a human verdict (an approval, or an approval with a window override)."""

EMERGENCY_STOP = "emergency_stop"
"""The ``controls`` row that holds the emergency stop (grace.store._governance.EMERGENCY_STOP)."""

METRIC_NAMES: frozenset[str] = frozenset(
    {
        # pipeline (this process, since it started)
        "grace_events_received_total",
        "grace_events_duplicate_total",
        "grace_events_dropped_total",
        "grace_events_matched_total",
        "grace_decisions_total",
        "grace_suppressed_total",
        "grace_runs_finished_total",
        "grace_component_restarts_total",
        "grace_event_queue_depth",
        "grace_event_queue_full_waits_total",
        # audit log (this process, since it started)
        "grace_audit_append_seconds",
        # store (every node sees the same numbers)
        "grace_store_up",
        "grace_runs",
        "grace_runs_queued_oldest_age_seconds",
        "grace_runs_lease_expired",
        "grace_approvals_pending",
        "grace_approvals_oldest_age_seconds",
        "grace_step_duration_seconds",
        "grace_run_recovery_seconds",
        "grace_mttr_seconds",
        "grace_circuits_open",
        "grace_emergency_stop_active",
        "grace_audit_head_seq",
        "grace_audit_checkpoint_seq",
        "grace_audit_tail_ok",
    }
)
"""Every family name the collector exports (counters with their ``_total``)."""


@dataclass(frozen=True, slots=True)
class MetricSources:
    """Where a scrape reads from."""

    counters: Callable[[], Mapping[str, Any]] | None = None
    """The pipeline's counters (``PipelineCounters.snapshot``); None: not exported."""
    engine: Engine | None = None
    """The store's SQLAlchemy engine; None: no store metrics (``grace_store_up`` is absent)."""
    clock: Clock = field(default_factory=SystemClock)
    """Now, for ages and open circuits."""
    audit_latency: Callable[[], LatencySnapshot] | None = None
    """The audit log's append latency (``AuditLog.append_latency.snapshot``); None: not
    exported."""


def sources_for(ingest: object, grace_engine: GraceEngine | None) -> MetricSources:
    """What an HTTP app can read: its ingest's pipeline counters (when it has them) and, with
    Grace's engine, the store and the audit log's append latency."""
    # The daemon's ingest is its Pipeline, whose ``counters.snapshot()`` is the provider; a
    # plain Ingest (tests, other embedders) has no counters, and no pipeline metrics are shown.
    counters: Any = getattr(ingest, "counters", None)
    snapshot = getattr(counters, "snapshot", None)
    provider = snapshot if callable(snapshot) else None
    if grace_engine is None:
        return MetricSources(counters=provider)
    return MetricSources(
        counters=provider,
        engine=grace_engine.store.engine,
        clock=grace_engine.clock,
        audit_latency=grace_engine.audit.append_latency.snapshot,
    )


def build_registry(sources: MetricSources) -> CollectorRegistry:
    """A fresh registry holding one :class:`GraceCollector` over ``sources``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GraceCollector(sources))
    return registry


class GraceCollector(Collector):
    """Reads the pipeline's counters and the store at each scrape (nothing cached)."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        """The metric families, in a stable order."""
        if self.sources.counters is not None:
            yield from _pipeline_metrics(self.sources.counters())
        if self.sources.audit_latency is not None:
            yield _audit_latency(self.sources.audit_latency())
        if self.sources.engine is not None:
            now = self.sources.clock.now()
            now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
            yield from _store_metrics(self.sources.engine, now)


# -- pipeline ---------------------------------------------------------------------------------


def _pipeline_metrics(snap: Mapping[str, Any]) -> Iterator[Metric]:
    by = (
        ("grace_events_received", "Events accepted, by source.", "received", "source"),
        ("grace_events_duplicate", "Events already recorded, by source.", "duplicates", "source"),
        ("grace_events_dropped", "Events dropped, by reason.", "dropped", "reason"),
        ("grace_decisions", "Governor decisions, by kind.", "decisions", "kind"),
        ("grace_suppressed", "Suppressed diagnoses, by guard.", "suppressed", "guard"),
        ("grace_runs_finished", "Runs the workers finished, by status.", "runs_finished", "status"),
        (
            "grace_component_restarts",
            "In-process restarts of Grace's own components by the healer watchdog.",
            "component_restarts",
            "component",
        ),
    )
    for name, doc, key, label in by:
        family = CounterMetricFamily(name, doc, labels=[label])
        for value, count in sorted(dict(snap.get(key) or {}).items()):
            family.add_metric([str(value)], float(count))
        yield family
    yield CounterMetricFamily(
        "grace_events_matched",
        "Events that matched at least one playbook.",
        value=float(snap.get("matched", 0)),
    )
    yield GaugeMetricFamily(
        "grace_event_queue_depth",
        "Events waiting for the matcher.",
        value=float(snap.get("queue_depth", 0)),
    )
    yield CounterMetricFamily(
        "grace_event_queue_full_waits",
        "Times a source waited because the event queue was full (back-pressure, not loss).",
        value=float(snap.get("queue_full_waits", 0)),
    )


# -- audit log --------------------------------------------------------------------------------


def _audit_latency(snap: LatencySnapshot) -> Metric:
    family = HistogramMetricFamily(
        "grace_audit_append_seconds",
        "Seconds from an audit append to the end of its commit (this process).",
    )
    running, buckets = 0, []
    for bound, count in zip((*map(_le, snap.bounds), "+Inf"), snap.counts, strict=True):
        running += count
        buckets.append((bound, float(running)))
    family.add_metric([], buckets, sum_value=snap.sum_s)
    return family


# -- store ------------------------------------------------------------------------------------


def _store_metrics(engine: Engine, now: datetime) -> Iterator[Metric]:
    try:
        with engine.connect() as conn:
            families = _store_families(conn, now)
    except SQLAlchemyError:
        families = []
        up = 0.0
    else:
        up = 1.0
    yield GaugeMetricFamily(
        "grace_store_up", "1 when the store answered this scrape's queries.", value=up
    )
    yield from families


def _store_families(conn: Connection, now: datetime) -> list[Metric]:
    out: list[Metric] = []
    out.extend(_run_families(conn, now))
    out.append(_step_histogram(conn))
    out.extend(_recovery_families(conn))
    out.append(_circuits(conn, now))
    stop = conn.execute(
        select(func.count()).select_from(t.controls).where(t.controls.c.name == EMERGENCY_STOP)
    ).scalar_one()
    out.append(
        GaugeMetricFamily(
            "grace_emergency_stop_active",
            "1 while the emergency stop is in force.",
            value=1.0 if stop else 0.0,
        )
    )
    out.extend(_audit_families(conn))
    return out


def _run_families(conn: Connection, now: datetime) -> list[Metric]:
    r = t.runs.c
    rows = conn.execute(
        select(r.status, r.playbook, func.count(), func.min(r.created_at)).group_by(
            r.status, r.playbook
        )
    ).all()
    runs = GaugeMetricFamily(
        "grace_runs", "Runs in the store, by status and playbook.", labels=["status", "playbook"]
    )
    oldest: dict[str, datetime] = {}
    pending = 0
    for status, playbook, count, first in sorted(rows, key=lambda row: (row[0], row[1])):
        runs.add_metric([status, playbook], float(count))
        if status in APPROVAL_STATUSES:
            pending += int(count)
        created = _aware(first)
        if status in (RunStatus.QUEUED, *APPROVAL_STATUSES) and created is not None:
            oldest[status] = min(oldest.get(status, created), created)
    waiting = [oldest[s] for s in APPROVAL_STATUSES if s in oldest]
    expired = conn.execute(
        select(func.count())
        .select_from(t.runs)
        .where(
            r.status == RunStatus.RUNNING.value,
            r.lease_expires_at.is_not(None),
            r.lease_expires_at < now,
        )
    ).scalar_one()
    return [
        runs,
        GaugeMetricFamily(
            "grace_runs_queued_oldest_age_seconds",
            "Age of the oldest queued run (0: none); growing means no worker picks runs up.",
            value=_age(now, oldest.get(RunStatus.QUEUED.value)),
        ),
        GaugeMetricFamily(
            "grace_runs_lease_expired",
            "Running runs whose worker lease has expired (a stalled or dead worker).",
            value=float(expired),
        ),
        GaugeMetricFamily(
            "grace_approvals_pending",
            "Runs waiting for a human verdict (awaiting_approval, blocked_change_window).",
            value=float(pending),
        ),
        GaugeMetricFamily(
            "grace_approvals_oldest_age_seconds",
            "Age of the oldest run waiting for a human verdict (0: none).",
            value=_age(now, min(waiting) if waiting else None),
        ),
    ]


def _step_histogram(conn: Connection) -> Metric:
    s = t.step_attempts.c
    seconds = _seconds_between(conn, s.started_at, s.finished_at).label("seconds")
    attempts = (
        select(s.action, seconds)
        .where(s.finished_at.is_not(None), s.status != StepStatus.SKIPPED.value)
        .cte("finished_attempts")
    )
    if conn.dialect.name == "sqlite":
        # Computed once per row (SQLite would otherwise inline julianday() into every WHEN).
        attempts = attempts.prefix_with("MATERIALIZED")
    took = attempts.c.seconds
    slot = case(
        *((took <= bound, index) for index, bound in enumerate(STEP_BUCKETS)),
        else_=len(STEP_BUCKETS),
    )
    rows = conn.execute(
        select(attempts.c.action, slot, func.count(), func.sum(took)).group_by(
            attempts.c.action, slot
        )
    ).all()
    per_slot: dict[str, list[int]] = {}
    totals: dict[str, float] = {}
    for action, index, count, total in rows:
        per_slot.setdefault(action, [0] * (len(STEP_BUCKETS) + 1))[int(index)] += int(count)
        totals[action] = totals.get(action, 0.0) + float(total or 0)
    family = HistogramMetricFamily(
        "grace_step_duration_seconds",
        "Duration of finished step attempts (skipped steps excluded), by action.",
        labels=["action"],
    )
    for action in sorted(per_slot):
        running, buckets = 0, []
        for bound, count in zip((*map(_le, STEP_BUCKETS), "+Inf"), per_slot[action], strict=True):
            running += count
            buckets.append((bound, float(running)))
        family.add_metric([action], buckets, sum_value=max(totals[action], 0.0))
    return family


def _recovery_families(conn: Connection) -> list[Metric]:
    r = t.runs.c
    seconds = _seconds_between(conn, r.created_at, r.finished_at)
    rows = conn.execute(
        select(r.playbook, func.count(), func.sum(seconds))
        .where(r.status == RunStatus.SUCCEEDED.value, r.finished_at.is_not(None))
        .group_by(r.playbook)
    ).all()
    summary = SummaryMetricFamily(
        "grace_run_recovery_seconds",
        "Seconds from a run's creation to its success, by playbook (MTTR = sum / count).",
        labels=["playbook"],
    )
    count_all, sum_all = 0, 0.0
    for playbook, count, total in sorted(rows, key=lambda row: row[0]):
        total_s = max(float(total or 0), 0.0)
        summary.add_metric([playbook], count_value=int(count), sum_value=total_s)
        count_all += int(count)
        sum_all += total_s
    mttr = GaugeMetricFamily(
        "grace_mttr_seconds",
        "Mean seconds from a run's creation to its success, over all succeeded runs (0: none).",
        value=sum_all / count_all if count_all else 0.0,
    )
    return [summary, mttr]


def _circuits(conn: Connection, now: datetime) -> Metric:
    g = t.incident_groups.c
    rows = conn.execute(
        select(g.playbook, func.count())
        .where(g.circuit_open_until.is_not(None), g.circuit_open_until > now)
        .group_by(g.playbook)
    ).all()
    family = GaugeMetricFamily(
        "grace_circuits_open",
        "Incident groups whose circuit breaker is open, by playbook.",
        labels=["playbook"],
    )
    for playbook, count in sorted(rows, key=lambda row: row[0]):
        family.add_metric([playbook], float(count))
    return family


def _audit_families(conn: Connection) -> list[Metric]:
    head, log, cp = t.audit_head.c, t.audit_log.c, t.audit_checkpoints.c
    # One statement, so one snapshot on PostgreSQL too: an append cannot land between reads.
    at_head = select(log.hash).where(log.seq == head.seq).scalar_subquery()
    last = select(func.max(log.seq)).scalar_subquery()
    row = conn.execute(select(head.seq, head.hash, at_head, last).where(head.id == 1)).first()
    last_seq = conn.execute(select(func.max(log.seq))).scalar() if row is None else row[3]
    if row is None:
        head_seq, ok = 0, last_seq is None
    else:
        head_seq = int(row[0])
        ok = (row[2] == row[1] or head_seq == 0) and (last_seq or 0) == head_seq
    at_cp = select(log.hash).where(log.seq == cp.seq).scalar_subquery()
    signed = conn.execute(select(cp.seq, cp.hash, at_cp).order_by(cp.seq.desc()).limit(1)).first()
    cp_seq = 0
    if signed is not None:
        cp_seq = int(signed[0])
        ok = ok and signed[2] == signed[1] and cp_seq <= head_seq
    return [
        GaugeMetricFamily(
            "grace_audit_head_seq", "Seq of the audit chain's head entry.", value=float(head_seq)
        ),
        GaugeMetricFamily(
            "grace_audit_checkpoint_seq",
            "Seq of the latest signed audit checkpoint (0: none yet).",
            value=float(cp_seq),
        ),
        GaugeMetricFamily(
            "grace_audit_tail_ok",
            "1 when the chain's tail checks out: the head row is the last entry and the latest "
            "checkpoint's hash is the entry's at its seq (the full check: grace audit verify).",
            value=1.0 if ok else 0.0,
        ),
    ]


# -- helpers ----------------------------------------------------------------------------------


def _seconds_between(
    conn: Connection, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[float]:
    if conn.dialect.name == "sqlite":
        # julianday keeps milliseconds; rounding drops the error of its day-fraction double.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return cast(extract("epoch", end - start), Float)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max((now - since).total_seconds(), 0.0)


def _le(bound: float) -> str:
    return str(float(bound))
