"""Commands that read: ``validate``, ``playbooks list``, ``config show``, ``logs``, ``tickets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grace.cli._app import JsonOpt, _console, _state, app, config_app, playbooks_app
from grace.cli._state import emit_json

__all__ = ()


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Playbook files or folders.")],
    json_out: JsonOpt = False,
) -> None:
    """Lint playbooks: every fault with file:line:column and a hint. Exit 1 on any error."""
    from grace.actions import default_registry
    from grace.playbooks import validate_paths

    problems = validate_paths(paths, registry=default_registry())
    if json_out:
        emit_json(
            [
                {
                    "file": p.file,
                    "line": p.line,
                    "column": p.column,
                    "field": p.field,
                    "message": p.message,
                    "hint": p.hint,
                }
                for p in problems
            ]
        )
    else:
        console = _console()
        for p in problems:
            console.print(str(p), markup=False)
        files = {p.file for p in problems}
        if problems:
            console.print(f"{len(problems)} problem(s) in {len(files)} file(s)", markup=False)
        else:
            console.print("all playbooks are valid", markup=False)
    if problems:
        raise typer.Exit(1)


@playbooks_app.command("list")
def playbooks_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every loaded playbook (bundled, then your folders), and any that failed to load."""
    from grace.actions import default_registry
    from grace.playbooks import load_library

    settings = _state(ctx).settings()
    loaded, errors = load_library(
        settings.playbook_dirs,
        registry=default_registry(),
        include_bundled=settings.bundled_playbooks,
    )
    rows = [
        {
            "name": pb.name,
            "version": pb.version,
            "priority": pb.spec.priority,
            "risk_level": pb.spec.metadata.risk_level,
            "autonomy_tier": pb.spec.metadata.autonomy_tier,
            "auto_trigger": pb.spec.metadata.auto_trigger,
            "triggers": [t.type for t in pb.spec.triggers],
            "steps": len(pb.steps),
            "bundled": pb.bundled,
            "file": pb.file,
            "description": pb.spec.metadata.description,
        }
        for pb in sorted(loaded.values(), key=lambda p: p.name)
    ]
    if json_out:
        emit_json({"playbooks": rows, "errors": [str(e) for e in errors]})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("NAME", "VERSION", "RISK", "TIER", "TRIGGERS", "STEPS", "SOURCE", "DESCRIPTION"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["version"]),
            str(r["risk_level"]),
            str(r["autonomy_tier"]),
            ",".join(str(t) for t in r["triggers"]) or "manual",  # type: ignore[attr-defined]
            str(r["steps"]),
            "bundled" if r["bundled"] else str(r["file"]),
            str(r["description"])[:60],
        )
    from rich.markup import escape

    console = _console()
    console.print(table)
    for err in errors:
        console.print(f"[red]rejected:[/red] {escape(str(err))}", markup=True)


@config_app.command("show")
def config_show(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """The effective settings and where each came from (flag, env, grace.yaml:line, default)."""
    state = _state(ctx)
    settings = state.settings()
    origins = state.origins()
    values = settings.model_dump(mode="json")
    values["effective_database_url"] = settings.effective_database_url
    if json_out:
        emit_json({k: {"value": v, "from": origins.get(k, "derived")} for k, v in values.items()})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("SETTING", "VALUE", "FROM"):
        table.add_column(col)
    for key in sorted(values):
        table.add_row(key, str(values[key]), origins.get(key, "derived"))
    _console().print(table)


@app.command()
def logs(
    ctx: typer.Context,
    subsystem: Annotated[
        str | None, typer.Option("--subsystem", help="Only this subsystem.")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only records of this run.")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only errors and exceptions.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new records.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Filter Grace's JSON-lines log (logs/grace.jsonl)."""
    import json
    import sys

    from grace.logs import format_record, iter_log_records

    settings = _state(ctx).settings()
    path = settings.log_dir / "grace.jsonl"
    if not path.exists() and not follow:
        _console().print(f"no log yet at {path}", markup=False)
        return
    color = sys.stdout.isatty()
    try:
        for record in iter_log_records(
            path, subsystem=subsystem, run_id=run, errors_only=errors, follow=follow
        ):
            line = (
                json.dumps(record, default=str) if json_out else format_record(record, color=color)
            )
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


@app.command()
def tickets(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Closed ones too.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Open work orders filed by playbooks (ticket.open)."""
    from grace.store import open_store

    settings = _state(ctx).settings()
    store = open_store(settings.effective_database_url)
    try:
        items = store.list_tickets(status=None if all_ else "open")
    finally:
        store.close()
    if json_out:
        emit_json(
            [
                {
                    "id": t.id,
                    "created_at": t.created_at.isoformat(),
                    "title": t.title,
                    "severity": t.severity,
                    "status": t.status,
                    "service": t.service,
                    "run_id": t.run_id,
                    "body": t.body,
                    "context": t.context,
                }
                for t in items
            ]
        )
        return
    console = _console()
    if not items:
        console.print("no open tickets", markup=False)
    for t in items:
        console.print(
            f"{t.id}  {t.severity:<8} {t.status:<6} {t.title}  (run {t.run_id or '-'})",
            markup=False,
        )
