"""Terminal and JSON renderings of runs, timelines, plans and audit reports."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grace.runs import Run, RunStatus, StepAttempt, StepStatus

__all__ = ("attempt_json", "print_plan", "print_runs", "print_timeline", "run_json")

STATUS_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.ROLLED_BACK: "yellow",
    RunStatus.TIMED_OUT: "red",
    RunStatus.ABORTED: "magenta",
    RunStatus.INTERRUPTED: "red",
    RunStatus.RUNNING: "cyan",
    RunStatus.QUEUED: "blue",
    RunStatus.AWAITING_APPROVAL: "yellow",
    RunStatus.BLOCKED_CHANGE_WINDOW: "yellow",
    RunStatus.REJECTED: "magenta",
    RunStatus.EXPIRED: "dim",
}
STEP_STYLE = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.TIMED_OUT: "red",
    StepStatus.SKIPPED: "dim",
    StepStatus.INTERRUPTED: "red",
    StepStatus.CANCELLED: "magenta",
    StepStatus.STARTED: "cyan",
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_json(run: Run) -> dict[str, Any]:
    """A run as JSON (documented in docs/cli.md)."""
    return {
        "id": run.id,
        "playbook": run.playbook,
        "playbook_version": run.playbook_version,
        "status": run.status.value,
        "trigger": run.trigger,
        "service": run.service,
        "requested_by": run.requested_by,
        "dry_run": run.dry_run,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": run.duration_s,
        "last_completed_step": run.last_completed_step,
        "error": run.error,
        "parent_run_id": run.parent_run_id,
        "vars": run.vars,
        "event_id": run.event.get("id"),
        "risk_level": run.risk_level,
        "suppressed": run.suppressed,
        "approvals_needed": run.approvals_needed,
        "expires_at": _iso(run.expires_at),
        "dedupe_key": run.dedupe_key,
    }


def attempt_json(a: StepAttempt) -> dict[str, Any]:
    """A step attempt as JSON."""
    return {
        "step": a.step,
        "phase": a.phase.value,
        "index": a.index,
        "attempt": a.attempt,
        "action": a.action,
        "status": a.status.value,
        "started_at": _iso(a.started_at),
        "finished_at": _iso(a.finished_at),
        "duration_ms": a.duration_ms,
        "params": a.params,
        "outputs": a.outputs,
        "error": a.error,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def print_runs(console: Console, runs: list[Run]) -> None:
    table = Table(title=None, box=None, header_style="bold")
    for col in ("RUN", "PLAYBOOK", "STATUS", "TRIGGER", "CREATED", "DURATION", "LAST STEP"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.id,
            r.playbook,
            Text(r.status.value, style=STATUS_STYLE.get(r.status, "")),
            r.trigger,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            _duration(r.duration_s),
            r.last_completed_step or "",
        )
    if not runs:
        console.print("no runs yet — start one with 'grace execute NAME'")
        return
    console.print(table)


def print_timeline(
    console: Console, run: Run, attempts: list[StepAttempt], width: int = 30
) -> None:
    """The run header, then one line per attempt with a bar placed on the run's time axis."""
    style = STATUS_STYLE.get(run.status, "")
    console.print(
        Text.assemble(("run ", "bold"), run.id, "  ", (run.status.value, f"bold {style}"))
    )
    console.print(
        f"playbook {run.playbook} {run.playbook_version} · trigger {run.trigger} · "
        f"by {run.requested_by} · duration {_duration(run.duration_s)}"
    )
    if run.error:
        console.print(Text(f"error: {run.error}", style="red"))
    if run.last_completed_step:
        console.print(f"last completed step: {run.last_completed_step}")
    if run.suppressed:
        console.print(f"suppressed repeats: {run.suppressed} (same incident, counted, not run)")
    if run.approvals_needed and run.expires_at is not None:
        console.print(
            f"waiting for {run.approvals_needed} approval(s) · risk {run.risk_level} · "
            f"expires {_iso(run.expires_at)} · grace approve {run.id}"
        )
    if not attempts:
        console.print("no steps recorded")
        return
    origin = run.started_at or attempts[0].started_at
    end = max((a.finished_at or a.started_at) for a in attempts)
    span = max((end - origin).total_seconds(), 1e-6)
    total = console.width or 100
    width = max(8, min(width, total - 72))
    header = f"{'+T':>8}  {'STEP':<18} {'TRY':>3}  {'ACTION':<13} {'STATUS':<11} {'DURATION':>8}  TIMELINE"
    console.print(Text(header, style="bold"), no_wrap=True, overflow="ellipsis")
    for a in attempts:
        offset = (a.started_at - origin).total_seconds()
        dur = (a.duration_ms or 0) / 1000
        left = min(int(width * offset / span), width - 1)
        size = min(max(1, int(width * dur / span)), width - left)
        bar = (" " * left + "█" * size).ljust(width)
        step = a.step if a.phase.value == "main" else f"↺ {a.step}"
        style = STEP_STYLE.get(a.status, "")
        line = Text.assemble(
            f"{offset * 1000:>5.0f} ms  {_cut(step, 18):<18} {a.attempt:>3}  {_cut(a.action, 13):<13} ",
            (f"{a.status.value:<11}", style),
            f" {_duration(a.duration_ms / 1000 if a.duration_ms is not None else None):>8}  ",
            (bar, style),
        )
        console.print(line, no_wrap=True, overflow="ellipsis")
        detail = a.error or ", ".join(f"{k}={str(v)[:40]}" for k, v in list(a.outputs.items())[:4])
        if detail:
            detail = " ".join(detail.split())
            console.print(
                Text(f"{'':>10}└ {_cut(detail, max(20, total - 13))}", style="dim"), no_wrap=True
            )


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def print_plan(console: Console, plan: Any) -> None:
    """A dry-run plan: conditions, then each step with rendered parameters."""
    console.print(
        Text.assemble(("dry run ", "bold"), f"{plan.playbook} {plan.version}", f"  ({plan.file})")
    )
    console.print("nothing is executed; nothing is written.")
    for c in plan.conditions:
        mark = {
            True: ("holds", "green"),
            False: ("FALSE", "red"),
            None: ("unknown until run time", "yellow"),
        }[c.result]
        console.print(
            Text.assemble(
                "condition ", (c.check, "bold"), ": ", (mark[0], mark[1]), f"  {c.detail}"
            )
        )
    if not plan.would_run:
        console.print(Text("a condition is false: this run would be blocked", style="red bold"))
    for i, s in enumerate(plan.steps, 1):
        head = Text.assemble(f"{i}. ", (s.name, "bold"), f" [{s.phase}] ", (s.action, "cyan"))
        flags = [f"risk {s.risk}", f"timeout {s.timeout_s:g}s"]
        if s.retries:
            flags.append(f"retries {s.retries}")
        if s.idempotent:
            flags.append("idempotent")
        if s.destructive:
            flags.append("destructive")
        head.append("  (" + ", ".join(flags) + ")", style="dim")
        console.print(head)
        if s.when is not None:
            result = {True: "true → runs", False: "false → skipped", None: "decided at run time"}[
                s.when_result
            ]
            console.print(f"     when {s.when!r}: {result}")
        for key, value in s.params.items():
            console.print(f"     {key}: {value!r}")
        console.print(Text(f"     → {s.description}", style="italic"))
        if s.problem:
            console.print(Text(f"     ✗ {s.problem}", style="red"))
