"""The ``grace`` command line. Commands are thin: they build settings, call the engine, render.

Exit codes (docs/cli.md): 0 ok · 1 failed (run failed, invalid playbooks, unknown name) ·
2 usage or configuration error · 3 database error · 4 audit verification failed · 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from grace.cli._state import State, emit_json, parse_vars

__all__ = ("app",)

app = typer.Typer(
    name="grace",
    help="Grace: an autonomous recovery engine. Playbooks in, careful audited repairs out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
runs_app = typer.Typer(help="List runs, or show one run's timeline.", invoke_without_command=True)
audit_app = typer.Typer(help="Verify or export the tamper-evident audit log.", no_args_is_help=True)
playbooks_app = typer.Typer(help="The loaded playbooks.", no_args_is_help=True)
config_app = typer.Typer(help="The effective settings.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(audit_app, name="audit")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(config_app, name="config")

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (stable fields) instead of a table.")
]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="k=v, visible to templates as vars.k")
]
EventOpt = Annotated[
    Path | None,
    typer.Option("--event-file", help="A JSON event to run against.", exists=True, dir_okay=False),
]


def _state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="grace.yaml to read (default ./grace.yaml).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data dir (default .grace/).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL.")
    ] = None,
    playbooks: Annotated[
        list[Path] | None, typer.Option("--playbooks", help="Extra playbook folder (repeatable).")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {"data_dir": data_dir, "database_url": database_url}
    if playbooks:
        overrides["playbook_dirs"] = playbooks
    ctx.obj = State(config_file=config, overrides=overrides)


def _console() -> Any:
    import sys

    from rich.console import Console

    # Piped or captured output is read by scripts and greps: never truncate it to 80 columns.
    width = None if sys.stdout.isatty() else 200
    # No markup by default: names, descriptions, errors and plans are shown as written
    # ("[grace] …" or "pip install app[extra]" must not vanish); styled text says markup=True.
    return Console(highlight=False, soft_wrap=True, width=width, markup=False)


def _event(path: Path | None) -> Any:
    if path is None:
        return None
    from grace.events import read_event

    return read_event(path)


# -- execute / test ------------------------------------------------------------------------


@app.command()
def execute(
    ctx: typer.Context,
    name: str,
    var: VarOpt = None,
    event_file: EventOpt = None,
    json_out: JsonOpt = False,
    who: Annotated[
        str | None,
        typer.Option("--as", help="Who asks (recorded; cannot approve it too). Default: login."),
    ] = None,
    override_window: Annotated[
        bool, typer.Option("--override-window", help="Run outside the change window.")
    ] = False,
) -> None:
    """Run playbook NAME now and wait for it to finish (exit 1 unless it succeeded).

    The governor decides first: a risky playbook waits for approval ('grace approve'), the
    change window may block it, the emergency stop refuses it.
    """
    import getpass

    import anyio

    from grace.runs import RunStatus

    state = _state(ctx)
    variables = parse_vars(var)
    event = _event(event_file)
    requester = who or getpass.getuser()
    with state.engine() as engine:
        engine.playbook(name)  # fail fast on a typo, before anything is written

        async def main() -> Any:
            await engine.recover()
            return await engine.execute(
                name,
                vars=variables,
                event=event,
                requested_by=requester,
                override_window=override_window,
            )

        run = anyio.run(main)
        attempts = engine.store.step_attempts(run.id)
    if json_out:
        from grace.cli._render import attempt_json, run_json

        emit_json({**run_json(run), "steps": [attempt_json(a) for a in attempts]})
    else:
        from grace.cli._render import print_timeline

        print_timeline(_console(), run, attempts)
        if run.status in (RunStatus.AWAITING_APPROVAL, RunStatus.BLOCKED_CHANGE_WINDOW):
            _console().print(
                f"not run yet: {run.status.value}; another person approves it with "
                f"'grace approve {run.id}"
                + (" --override-window" if run.status is RunStatus.BLOCKED_CHANGE_WINDOW else "")
                + "'"
            )
    if run.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(1)


@app.command("test")
def dry_run_cmd(
    ctx: typer.Context,
    name: str,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; touch nothing.")
    ] = True,
    var: VarOpt = None,
    event_file: EventOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Dry-run playbook NAME: each step, its rendered parameters, what each condition evaluates to."""
    if not dry_run:
        raise typer.BadParameter(
            "only --dry-run is supported; use 'grace execute' to run", param_hint="--dry-run"
        )
    from grace.engine import plan_offline

    state = _state(ctx)
    plan = plan_offline(state.settings(), name, vars=parse_vars(var), event=_event(event_file))
    if json_out:
        emit_json(plan.to_dict())
    else:
        from grace.cli._render import print_plan

        print_plan(_console(), plan)


# -- runs ----------------------------------------------------------------------------------


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    active: Annotated[
        bool, typer.Option("--active", help="Only proposed, awaiting, queued or running.")
    ] = False,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    playbook: Annotated[str | None, typer.Option("--playbook", help="Only this playbook.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_out: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from grace.cli._render import print_runs, run_json
    from grace.store import open_store

    settings = _state(ctx).settings()
    store = open_store(settings.effective_database_url)
    try:
        runs = store.list_runs(
            active=active, status=status, playbook=playbook, limit=limit, offset=offset
        )
    finally:
        store.close()
    if json_out:
        emit_json([run_json(r) for r in runs])
    else:
        print_runs(_console(), runs)


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str, json_out: JsonOpt = False) -> None:
    """Show one run's timeline: every step attempt with its duration."""
    from grace.cli._render import attempt_json, print_timeline, run_json
    from grace.store import open_store

    settings = _state(ctx).settings()
    store = open_store(settings.effective_database_url)
    try:
        run = store.get_run(run_id)
        attempts = store.step_attempts(run.id)
        verdicts = store.approvals_of(run.id)
    finally:
        store.close()
    if json_out:
        emit_json(
            {
                **run_json(run),
                "steps": [attempt_json(a) for a in attempts],
                "approvals": [
                    {
                        "approver": v.approver,
                        "verdict": v.verdict,
                        "reason": v.reason,
                        "override_window": v.override_window,
                        "at": v.created_at.isoformat(),
                    }
                    for v in verdicts
                ],
            }
        )
    else:
        console = _console()
        print_timeline(console, run, attempts)
        for v in verdicts:
            window = " (override window)" if v.override_window else ""
            why = f": {v.reason}" if v.reason else ""
            console.print(f"{v.verdict} by {v.approver}{window} at {v.created_at:%H:%M:%S}{why}")


# -- audit ---------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Check every hash link and every signed checkpoint; name the first bad entry (exit 4)."""
    from dataclasses import asdict

    from grace.audit import PUBLIC_KEY_FILE, load_public_keys, verify
    from grace.store import create_db_engine

    settings = _state(ctx).settings()
    public = settings.data_dir / PUBLIC_KEY_FILE
    keys = load_public_keys(public) if public.exists() else None
    engine = create_db_engine(settings.effective_database_url)
    try:
        report = verify(engine, public_keys=keys)
    finally:
        engine.dispose()
    if json_out:
        emit_json(asdict(report))
    else:
        console = _console()
        if report.ok:
            console.print(
                f"[green]audit log OK[/green]: {report.entries_checked} entries, "
                f"{report.checkpoints_checked} signed checkpoints verified in {report.duration_s:.2f}s",
                markup=True,
            )
        else:
            console.print(
                f"[red bold]audit log FAILED verification[/red bold] at seq {report.first_bad_seq}",
                markup=True,
            )
            console.print(f"  {report.problem}")
    if not report.ok:
        raise typer.Exit(4)


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    from_seq: Annotated[int, typer.Option("--from-seq", min=1)] = 1,
) -> None:
    """Write the audit log as JSON lines."""
    import sys

    from grace.audit import export_jsonl
    from grace.store import create_db_engine

    settings = _state(ctx).settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        if output is None:
            count = export_jsonl(engine, sys.stdout, from_seq=from_seq)
        else:
            with output.open("w", encoding="utf-8") as fh:
                count = export_jsonl(engine, fh, from_seq=from_seq)
    finally:
        engine.dispose()
    if output is not None:
        _console().print(f"wrote {count} entries to {output}")
