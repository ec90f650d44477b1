"""``grace watchdog``: the second process of the mutual watch (docs/watchdog.md).

Kept small on purpose: it loads settings, the store and :mod:`grace.watchdog`, nothing of the
engine, the runner or the HTTP API.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from grace.cli._app import _state, app

__all__ = ("effective_config_file",)


def effective_config_file(config_file: Path | None) -> str | None:
    """The grace.yaml this process reads (``--config``, ``$GRACE_CONFIG``, ``./grace.yaml``),
    absolute, so that a peer started from another directory reads the same one."""
    path = config_file or os.environ.get("GRACE_CONFIG") or "grace.yaml"
    resolved = Path(path).resolve()
    return str(resolved) if resolved.is_file() else None


@app.command()
def watchdog(ctx: typer.Context) -> None:
    """Keep 'grace serve' running, and be kept running by it (tiers 2 and 3).

    Restarts 'grace serve' when its process dies; when its runner and API are both down (a
    hung process, or a spent restart budget), runs the emergency protocol: delegate healing
    to this watchdog, force-restart with limits reset, verify, revoke, all audited.
    Needs 'watchdog: {enabled: true}' in grace.yaml. Stops on SIGTERM or Ctrl-C.
    """
    from grace.errors import ConfigError
    from grace.logs import configure_logging
    from grace.watchdog import launch_argv
    from grace.watchdog._process import run_watchdog

    state = _state(ctx)
    settings = state.settings()
    if not settings.watchdog.enabled:
        msg = "the healer watchdog is off (watchdog.enabled is false)"
        raise ConfigError(
            msg, hint="set 'watchdog: {enabled: true}' in grace.yaml (docs/watchdog.md)"
        )
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=None)
    code = run_watchdog(
        settings, argv=launch_argv(), config_file=effective_config_file(state.config_file)
    )
    raise typer.Exit(code)
