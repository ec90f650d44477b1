"""``grace serve``: the daemon."""

from __future__ import annotations

from typing import Annotated

import typer

from grace.cli._app import _state, app

__all__ = ()


@app.command()
def serve(
    ctx: typer.Context,
    listen: Annotated[
        str | None, typer.Option("--listen", help="host:port for the HTTP intake.")
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="observe (propose only) or execute.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=256, help="Concurrent runs.")
    ] = None,
) -> None:
    """Watch the configured sources, match playbooks, govern, and run repairs until stopped."""
    import anyio

    from grace.daemon import serve as run_daemon
    from grace.logs import configure_logging

    state = _state(ctx)
    state.overrides.update({"listen": listen, "mode": mode, "workers": workers})
    settings = state.settings()
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=None)
    from functools import partial

    from grace.cli._watchdog import effective_config_file
    from grace.watchdog import launch_argv

    # Recorded for the healer watchdog, which restarts this process the same way.
    config_file = effective_config_file(state.config_file)
    anyio.run(partial(run_daemon, settings, launch_argv=launch_argv(), config_file=config_file))
