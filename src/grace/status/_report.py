"""The status report: is Grace OPERATIONAL, DEGRADED or CRITICAL, and what should a person do.

Pure data built from what the store offers (no terminal, no SQL): ``grace status`` renders it
with rich, ``--format markdown`` / ``--format json`` print :func:`to_markdown` / :func:`to_json`.
The rules (``docs/status.md``):

CRITICAL when any of: the emergency stop is in force; the audit log fails verification; a run
ended ``failed``, ``timed_out``, ``interrupted`` or ``rolled_back`` in the last hour and a ticket
linked to it is still open (a repair that did not work, and a person has not closed its ticket).

DEGRADED when any of: runs wait for approval (``awaiting_approval``, ``blocked_change_window``;
observe-mode proposals are listed but do not degrade); an incident's circuit is open; a run ended ``failed``, ``timed_out``, ``interrupted`` or
``rolled_back`` in the last 24 hours; a configured push heartbeat is silent past its timeout.

OPERATIONAL otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from grace.runs import ACTIVE_STATUSES, PENDING_STATUSES, Run, RunStatus

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.store import Store

__all__ = ("AuditStatus", "Reason", "State", "StatusReport", "build_status")

CRITICAL_WINDOW = timedelta(hours=1)
"""A failed run with an open ticket this recent makes the state CRITICAL."""
DEGRADED_WINDOW = timedelta(hours=24)
"""A failed run this recent makes the state DEGRADED."""
RECENT_RUNS = 10
MAX_LISTED = 5
"""Pending runs and circuits given one reason (and commands) each; the rest are summed up."""
HEARTBEAT_TIMEOUT_S = 60.0
"""A configured heartbeat's ``timeout_s`` when it gives none (the source's default)."""
_SCAN = 500
"""How many runs per failed status (and for the service table) are read, newest first."""

_FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED, RunStatus.ROLLED_BACK)


class State(StrEnum):
    """The overall verdict, worst first."""

    CRITICAL = "CRITICAL"
    DEGRADED = "DEGRADED"
    OPERATIONAL = "OPERATIONAL"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the state is what it is: one fact, its level and a stable code."""

    level: State
    code: str
    """``emergency_stop``, ``audit_failed``, ``failed_run_ticket``, ``pending_approval``,
    ``circuit_open``, ``failed_run``, ``heartbeat_stale``."""
    message: str


@dataclass(frozen=True, slots=True)
class AuditStatus:
    """The audit log's size and what verifying it found."""

    verified: bool
    """False when verification was skipped (``--no-verify``)."""
    ok: bool | None
    entries: int | None
    checkpoints: int | None
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything ``grace status`` shows, as plain data (rows are JSON-ready dicts)."""

    generated_at: datetime
    state: State
    reasons: tuple[Reason, ...]
    mode: str
    emergency_stop: dict[str, Any] | None
    active_runs: tuple[dict[str, Any], ...]
    pending_approvals: tuple[dict[str, Any], ...]
    proposals: tuple[dict[str, Any], ...]
    """Observe-mode proposals: shown, never approved, they do not degrade the state."""
    recent_runs: tuple[dict[str, Any], ...]
    failed_24h: int
    open_tickets: tuple[dict[str, Any], ...]
    circuits: tuple[dict[str, Any], ...]
    heartbeats: tuple[dict[str, Any], ...]
    services: tuple[dict[str, Any], ...]
    audit: AuditStatus
    commands: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """``grace status --check``: 0 operational, 1 degraded, 5 critical."""
        return {State.OPERATIONAL: 0, State.DEGRADED: 1, State.CRITICAL: 5}[self.state]


def build_status(
    store: Store, settings: Settings, *, now: datetime, verify_audit: bool = True
) -> StatusReport:
    """Read the store and decide the state; ``verify_audit=False`` skips walking the chain."""
    reasons: list[Reason] = []
    commands: list[str] = []
    stop = store.emergency_stop()
    if stop is not None:
        reasons.append(
            Reason(
                State.CRITICAL,
                "emergency_stop",
                f"emergency stop in force since {stop.get('at', '?')} by {stop.get('by', '?')}"
                + (f": {stop['reason']}" if stop.get("reason") else ""),
            )
        )
        commands.append("grace resume --reason TEXT")

    audit = _audit(store, settings) if verify_audit else AuditStatus(False, None, None, None)
    if audit.ok is False:
        reasons.append(Reason(State.CRITICAL, "audit_failed", f"audit log: {audit.problem}"))
        commands.append("grace audit verify")

    tickets = store.list_tickets(status="open", limit=100)
    ticket_runs = {t.run_id: t.id for t in tickets if t.run_id}
    failed = [
        r
        for status in _FAILED
        for r in store.list_runs(status=status.value, limit=_SCAN)
        if _ended(r) >= now - DEGRADED_WINDOW
    ]
    failed.sort(key=_ended, reverse=True)
    for r in failed:
        recent = _ended(r) >= now - CRITICAL_WINDOW
        if recent and r.id in ticket_runs:
            reasons.append(
                Reason(
                    State.CRITICAL,
                    "failed_run_ticket",
                    f"run {r.id} ({r.playbook}) {r.status.value} {_ago(now, _ended(r))}; "
                    f"ticket {ticket_runs[r.id]} is open",
                )
            )
            commands.append(f"grace runs show {r.id}")

    waiting = [r for r in store.pending_runs() if r.expires_at is None or r.expires_at > now]
    pending = [r for r in waiting if r.status is not RunStatus.PROPOSED]
    for r in pending[:MAX_LISTED]:
        missing = f", {r.approvals_needed} approval(s) missing" if r.approvals_needed else ""
        reasons.append(
            Reason(
                State.DEGRADED,
                "pending_approval",
                f"run {r.id} ({r.playbook}, risk {r.risk_level}) is {r.status.value}{missing}",
            )
        )
        window = " --override-window" if r.status is RunStatus.BLOCKED_CHANGE_WINDOW else ""
        commands.append(f"grace approve {r.id}{window}")
        commands.append(f"grace reject {r.id} --reason TEXT")
    if len(pending) > MAX_LISTED:
        more = len(pending) - MAX_LISTED
        reasons.append(
            Reason(State.DEGRADED, "pending_approval", f"{more} more run(s) await approval")
        )
        commands.append("grace approvals")

    circuits = _circuits(store, now)
    for c in circuits[:MAX_LISTED]:
        reasons.append(
            Reason(
                State.DEGRADED,
                "circuit_open",
                f"circuit of {c['incident']} open until {c['open_until']}",
            )
        )
        commands.append(f"grace circuit reset {c['incident']}")

    if failed:
        reasons.append(
            Reason(
                State.DEGRADED,
                "failed_run",
                f"{len(failed)} run(s) did not succeed in the last 24 h "
                f"(latest: {failed[0].id} {failed[0].playbook} {failed[0].status.value})",
            )
        )
        if f"grace runs show {failed[0].id}" not in commands:
            commands.append(f"grace runs show {failed[0].id}")

    heartbeats = _heartbeats(store, settings, now)
    for hb in heartbeats:
        if hb["stale"]:
            seen = hb["last_seen"] or "never"
            reasons.append(
                Reason(
                    State.DEGRADED,
                    "heartbeat_stale",
                    f"heartbeat {hb['name']} silent past {hb['timeout_s']:g}s (last ping: {seen})",
                )
            )
    if tickets:
        commands.append("grace tickets")

    levels = {r.level for r in reasons}
    state = next((s for s in State if s in levels), State.OPERATIONAL)
    latest = store.list_runs(limit=_SCAN)
    return StatusReport(
        generated_at=now,
        state=state,
        reasons=tuple(reasons),
        mode=settings.mode,
        emergency_stop=stop,
        active_runs=tuple(
            _run_row(r, now)
            for r in store.list_runs(active=True, limit=100)
            if r.status not in PENDING_STATUSES
        ),
        pending_approvals=tuple(_pending_row(r) for r in pending),
        proposals=tuple(_pending_row(r) for r in waiting if r.status is RunStatus.PROPOSED),
        recent_runs=tuple(_run_row(r, now) for r in latest[:RECENT_RUNS]),
        failed_24h=len(failed),
        open_tickets=tuple(
            {
                "id": t.id,
                "title": t.title,
                "severity": t.severity,
                "service": t.service,
                "run_id": t.run_id,
                "created_at": t.created_at.isoformat(),
            }
            for t in tickets
        ),
        circuits=tuple(circuits),
        heartbeats=tuple(heartbeats),
        services=tuple(_services(latest)),
        audit=audit,
        commands=tuple(dict.fromkeys(commands)),
    )


def _ended(run: Run) -> datetime:
    return run.finished_at or run.created_at


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _run_row(r: Run, now: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "playbook": r.playbook,
        "service": r.service,
        "status": r.status.value,
        "trigger": r.trigger,
        "created_at": r.created_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "duration_s": r.duration_s,
        "age": _ago(now, r.created_at),
        "error": r.error,
    }


def _pending_row(r: Run) -> dict[str, Any]:
    return {
        "id": r.id,
        "playbook": r.playbook,
        "service": r.service,
        "status": r.status.value,
        "risk_level": r.risk_level,
        "approvals_needed": r.approvals_needed,
        "requested_by": r.requested_by,
        "expires_at": r.expires_at.isoformat() if r.expires_at else None,
    }


def _audit(store: Store, settings: Settings) -> AuditStatus:
    from grace.audit import PUBLIC_KEY_FILE, load_public_keys, verify

    public = settings.data_dir / PUBLIC_KEY_FILE
    keys = load_public_keys(public) if public.exists() else None
    report = verify(store.engine, public_keys=keys)
    return AuditStatus(
        verified=True,
        ok=report.ok,
        entries=report.head_seq if report.ok else report.entries_checked,
        checkpoints=report.checkpoints_checked,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )


def _circuits(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Open circuits (every one, also those whose escalation ticket was closed by hand)."""
    return [
        {
            "incident": group.key,
            "open_until": group.circuit_open_until.isoformat(),
            "ticket_id": group.circuit_ticket_id,
        }
        for group in store.open_circuits(now=now)
        if group.circuit_open_until is not None
    ]


def _heartbeats(store: Store, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Every heartbeat seen or configured; only configured push heartbeats can be stale."""
    beats = store.last_beats()
    configured: dict[str, float] = {}
    for src in settings.sources:
        if src.get("type") == "heartbeat" and src.get("mode", "push") == "push" and src.get("name"):
            configured[str(src["name"])] = float(src.get("timeout_s", HEARTBEAT_TIMEOUT_S))
    rows = []
    for name in sorted(set(beats) | set(configured)):
        last = beats.get(name)
        timeout = configured.get(name)
        stale = timeout is not None and (last is None or (now - last).total_seconds() > timeout)
        rows.append(
            {
                "name": name,
                "last_seen": last.isoformat() if last else None,
                "timeout_s": timeout,
                "stale": stale,
            }
        )
    return rows


_HEALTH = {
    RunStatus.SUCCEEDED: "healthy",
    RunStatus.FAILED: "failing",
    RunStatus.TIMED_OUT: "failing",
    RunStatus.INTERRUPTED: "failing",
    RunStatus.ROLLED_BACK: "failing",
    RunStatus.RUNNING: "repairing",
    RunStatus.QUEUED: "repairing",
}


def _services(runs: list[Run]) -> list[dict[str, Any]]:
    """Each service's newest run (``runs`` is newest first): its status and what it says."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        if not r.service or r.service in out:
            continue
        health = _HEALTH.get(r.status, "waiting" if r.status in ACTIVE_STATUSES else "unknown")
        out[r.service] = {
            "service": r.service,
            "health": health,
            "last_status": r.status.value,
            "last_run": r.id,
            "playbook": r.playbook,
            "at": (r.finished_at or r.created_at).isoformat(),
        }
    return sorted(out.values(), key=lambda s: str(s["service"]))
