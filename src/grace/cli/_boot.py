"""``grace boot``: run the startup pipeline, or print the last boot's report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from grace.cli._app import JsonOpt, _state, app
from grace.cli._state import emit_json

__all__ = ()


@app.command()
def boot(
    ctx: typer.Context,
    service: Annotated[
        str | None,
        typer.Option("--service", help="Only this service's checks; passed to playbooks."),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Print the last boot's report; run nothing.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Boot: preflight, schema and secrets, core services, startup playbooks, playbook
    validation, governance, smoke tests, monitor. Known failures are fixed (execute mode) or
    proposed (observe mode); a critical failure rolls back to the pre-boot snapshot (exit 1)."""
    from grace.boot._report import REPORT_JSON, REPORT_TEXT, BootReport, render_text
    from grace.errors import ConfigError

    state = _state(ctx)
    settings = state.settings()
    if report:
        path = settings.log_dir / (REPORT_JSON if json_out else REPORT_TEXT)
        if not path.is_file():
            msg = f"no boot report yet ({path})"
            raise ConfigError(msg, hint="run 'grace boot' first")
        text = path.read_text(encoding="utf-8")
        if json_out:
            emit_json(json.loads(text))
        else:
            typer.echo(text, nl=False)
        return

    import anyio

    from grace.boot import run_boot
    from grace.config import DEFAULT_CONFIG_FILE
    from grace.logs import configure_logging

    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
    config_file = Path(state.config_file or os.environ.get("GRACE_CONFIG") or DEFAULT_CONFIG_FILE)
    result: BootReport = anyio.run(
        lambda: run_boot(settings, service=service, config_file=config_file)
    )
    if json_out:
        emit_json(result.to_dict())
    else:
        typer.echo(render_text(result), nl=False)
    if not result.ok:
        raise typer.Exit(1)
