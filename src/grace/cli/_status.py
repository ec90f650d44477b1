"""``grace status``: the overview in the terminal, or the runbook status report (markdown, JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from grace.cli._app import _console, _state, app
from grace.cli._state import emit_json

if TYPE_CHECKING:
    from grace.status import StatusReport

__all__ = ("status",)

_STATE_STYLE = {"OPERATIONAL": "bold green", "DEGRADED": "bold yellow", "CRITICAL": "bold red"}
_CELL_STYLE = {
    "healthy": "green",
    "failing": "red",
    "repairing": "cyan",
    "waiting": "yellow",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "interrupted": "red",
    "rolled_back": "yellow",
    "running": "cyan",
    "queued": "blue",
    "awaiting_approval": "yellow",
    "blocked_change_window": "yellow",
}


@app.command()
def status(
    ctx: typer.Context,
    fmt: Annotated[
        Literal["text", "markdown", "json"],
        typer.Option("--format", help="text (terminal), markdown (runbook report) or json."),
    ] = "text",
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 0 operational, 1 degraded, 5 critical (for monitors)."),
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Do not walk the audit chain (large logs).")
    ] = False,
) -> None:
    """Is Grace OPERATIONAL, DEGRADED or CRITICAL, why, and the commands to act."""
    from grace.status import build_status, to_json, to_markdown
    from grace.store import open_store

    settings = _state(ctx).settings()
    store = open_store(settings.effective_database_url)
    try:
        report = build_status(store, settings, now=store.clock.now(), verify_audit=not no_verify)
    finally:
        store.close()
    if fmt == "json":
        emit_json(to_json(report))
    elif fmt == "markdown":
        typer.echo(to_markdown(report), nl=False)
    else:
        _print(report)
    if check and report.exit_code:
        raise typer.Exit(report.exit_code)


def _print(report: StatusReport) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from grace.status import audit_line, sections

    console: Any = _console()
    state = report.state.value
    console.print(Text(f"Grace {state}", style=_STATE_STYLE[state]))
    for r in report.reasons:
        console.print(Text(f"  • {r.message}", style=_STATE_STYLE[r.level.value].split()[-1]))
    stop = report.emergency_stop
    console.print(
        f"mode: {report.mode} · emergency stop: "
        + (f"[red bold]IN FORCE[/red bold] (by {escape(str(stop.get('by')))})" if stop else "off")
        + f" · audit: {audit_line(report.audit)}",
        markup=True,
    )
    for title, headers, rows in sections(report):
        if not rows:
            continue
        table = Table(title=title, title_justify="left", box=None, header_style="bold")
        for header in headers:
            table.add_column(header.upper())
        styled = {headers.index(h) for h in ("health", "status") if h in headers}
        for row in rows:
            table.add_row(
                *[
                    Text(cell, style=_CELL_STYLE.get(cell, "") if i in styled else "")
                    for i, cell in enumerate(row)
                ]
            )
        console.print()
        console.print(table)
    if not report.recent_runs:
        console.print("\nno runs yet — start one with 'grace execute NAME'")
    if report.commands:
        console.print("\n[bold]Commands to act[/bold]", markup=True)
        for command in report.commands:
            console.print(f"  {command}", markup=False)
