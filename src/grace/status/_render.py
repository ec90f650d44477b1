"""Renderings of the status report: JSON, markdown, and the tables the terminal view shares."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from grace.status._report import AuditStatus, StatusReport

__all__ = ("Section", "audit_line", "format_duration", "sections", "to_json", "to_markdown")


def to_json(report: StatusReport) -> dict[str, Any]:
    """The report as a JSON document (stable fields, documented in docs/status.md)."""
    return {
        "state": report.state.value,
        "generated_at": report.generated_at.isoformat(),
        "reasons": [
            {"level": r.level.value, "code": r.code, "message": r.message} for r in report.reasons
        ],
        "mode": report.mode,
        "emergency_stop": report.emergency_stop,
        "active_runs": list(report.active_runs),
        "pending_approvals": list(report.pending_approvals),
        "proposals": list(report.proposals),
        "recent_runs": list(report.recent_runs),
        "failed_24h": report.failed_24h,
        "open_tickets": list(report.open_tickets),
        "circuits": list(report.circuits),
        "heartbeats": list(report.heartbeats),
        "services": list(report.services),
        "audit": asdict(report.audit),
        "commands": list(report.commands),
    }


def format_duration(seconds: float | None) -> str:
    """``43 ms``, ``2.5 s``, ``3.1 min`` (``—`` when unknown)."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def audit_line(audit: AuditStatus) -> str:
    """One sentence on the audit log (shared by the terminal and markdown renderings)."""
    if not audit.verified:
        return "not verified (--no-verify)"
    if audit.ok:
        return f"OK: {audit.entries} entries, {audit.checkpoints} signed checkpoints verified"
    return f"FAILED verification at seq {audit.first_bad_seq}: {audit.problem}"


Section = tuple[str, tuple[str, ...], list[list[str]]]
"""A titled table: (title, column headers, rows of cells)."""


def sections(report: StatusReport) -> list[Section]:
    """The report's tables in display order, cells as text (``—`` for nothing)."""

    def rows(items: tuple[dict[str, Any], ...], *keys: str) -> list[list[str]]:
        def cell(item: dict[str, Any], key: str) -> str:
            if key == "duration_s":
                return format_duration(item[key])
            value = item[key]
            if isinstance(value, bool):
                return "yes" if value else "no"
            return "—" if value in (None, "") else str(value)

        return [[cell(item, k) for k in keys] for item in items]

    pending = ("id", "playbook", "service", "risk_level", "approvals_needed", "expires_at")
    return [
        (
            "Active runs",
            ("run", "playbook", "service", "status", "created"),
            rows(report.active_runs, "id", "playbook", "service", "status", "age"),
        ),
        (
            "Pending approvals",
            ("run", "playbook", "service", "risk", "missing approvals", "expires"),
            rows(report.pending_approvals, *pending),
        ),
        (
            "Proposals (observe mode)",
            ("run", "playbook", "service", "risk", "missing approvals", "expires"),
            rows(report.proposals, *pending),
        ),
        (
            "Recent runs",
            ("run", "playbook", "service", "status", "duration", "created"),
            rows(report.recent_runs, "id", "playbook", "service", "status", "duration_s", "age"),
        ),
        (
            "Services",
            ("service", "health", "last status", "last run", "playbook"),
            rows(report.services, "service", "health", "last_status", "last_run", "playbook"),
        ),
        (
            "Open tickets",
            ("ticket", "severity", "service", "title", "run"),
            rows(report.open_tickets, "id", "severity", "service", "title", "run_id"),
        ),
        (
            "Open circuits",
            ("incident", "open until", "ticket"),
            rows(report.circuits, "incident", "open_until", "ticket_id"),
        ),
        (
            "Heartbeats",
            ("name", "last ping", "timeout (s)", "stale"),
            rows(report.heartbeats, "name", "last_seen", "timeout_s", "stale"),
        ),
    ]


def to_markdown(report: StatusReport) -> str:
    """The runbook status report: state and reasons, job table, service health, commands."""
    stop = report.emergency_stop
    out = [
        f"# Grace status: {report.state.value}",
        "",
        f"- Generated: {report.generated_at.isoformat()}",
        f"- Mode: {report.mode}",
        "- Emergency stop: "
        + (f"**in force** (by {stop.get('by')}: {stop.get('reason') or '—'})" if stop else "off"),
        f"- Audit log: {audit_line(report.audit)}",
        "",
        "## Reasons",
        "",
    ]
    out += [f"- **{r.level.value}** `{r.code}`: {r.message}" for r in report.reasons] or [
        "- none: nothing needs attention"
    ]
    for title, headers, cells in sections(report):
        out += ["", f"## {title}", ""]
        if not cells:
            out.append("none")
            continue
        out += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in cells]
    out += ["", "## Commands to act", ""]
    out += [f"- `{c}`" for c in report.commands] or ["- nothing to do"]
    return "\n".join(out) + "\n"


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")
