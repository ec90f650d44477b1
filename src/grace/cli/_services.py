"""``grace services list|start|stop|restart|logs``: the supervised services.

With ``grace serve`` running (its supervisor pings the ``grace.supervisor`` heartbeat), start,
stop and restart are requests written to the store, which the daemon's supervisor carries out
within a fraction of a second; this command waits for the result. With no daemon, the command
acts itself (and says that nothing restarts the service until a ``grace serve`` adopts it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grace.cli._app import JsonOpt, _console, _state, app
from grace.cli._govern import AsOpt, _who
from grace.cli._state import emit_json
from grace.errors import ConfigError

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.store import Store
    from grace.supervisor import ServiceConfig, ServiceState

__all__ = ("services_app",)

services_app = typer.Typer(
    help="Supervised services: list, start, stop, restart, logs.", no_args_is_help=True
)
app.add_typer(services_app, name="services")


def _configs(ctx: typer.Context) -> list[ServiceConfig]:
    from grace.supervisor import parse_services

    state = _state(ctx)
    return parse_services(state.settings().services, where=state.origins().get("services", "?"))


def _pick(configs: list[ServiceConfig], name: str) -> ServiceConfig:
    for config in configs:
        if config.name == name:
            return config
    import difflib

    names = [c.name for c in configs]
    close = difflib.get_close_matches(name, names, n=1)
    msg = f"no service named {name!r}"
    hint = f"did you mean {close[0]!r}?" if close else f"services: {', '.join(names) or 'none'}"
    raise ConfigError(msg, hint=hint)


def _alive(state: ServiceState | None) -> bool:
    """Is the recorded process still the one we started (pid and create time)?"""
    if state is None or state.pid is None or state.create_time is None:
        return False
    import psutil

    try:
        proc = psutil.Process(state.pid)
        return (
            abs(proc.create_time() - state.create_time) < 0.01
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def _row(settings: Settings, config: ServiceConfig) -> dict[str, Any]:
    from grace.supervisor import read_state

    state = read_state(settings.data_dir, config.name)
    alive = _alive(state)
    status: str = state.status if state is not None else "never started"
    if state is not None and status == "running" and not alive:
        status = "dead"  # recorded running, but gone (no supervisor noticed yet)
    uptime = None
    if alive and state is not None and state.started_at:
        uptime = (datetime.now(UTC) - datetime.fromisoformat(state.started_at)).total_seconds()
    return {
        "name": config.name,
        "status": status,
        "pid": state.pid if alive and state is not None else None,
        "uptime_s": None if uptime is None else round(uptime, 1),
        "restarts": state.restarts if state is not None else 0,
        "healthy": state.healthy if state is not None else None,
        "last_exit": state.last_exit if state is not None else None,
        "reason": state.reason if state is not None else "",
    }


@services_app.command("list")
def list_services(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every configured service: status, pid, uptime, restarts, health, last exit."""
    settings = _state(ctx).settings()
    rows = [_row(settings, c) for c in _configs(ctx)]
    if json_out:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("name", "status", "pid", "uptime", "restarts", "health", "last exit / reason")
    for r in rows:
        health = {True: "ok", False: "failing", None: "-"}[r["healthy"]]
        uptime = "-" if r["uptime_s"] is None else f"{r['uptime_s']:.0f}s"
        table.add_row(
            r["name"],
            r["status"],
            str(r["pid"] or "-"),
            uptime,
            str(r["restarts"]),
            health,
            r["reason"] or r["last_exit"] or "",
        )
    if not rows:
        _console().print("no services configured (add 'services:' to grace.yaml)")
        return
    _console().print(table)


def _act(ctx: typer.Context, action: str, names: list[str], by: str, json_out: bool) -> None:
    from grace.store import open_store
    from grace.supervisor import daemon_listening

    settings = _state(ctx).settings()
    configs = _configs(ctx)
    targets = configs if names == ["*"] else [_pick(configs, n) for n in names]
    store = open_store(settings.effective_database_url)
    try:
        if daemon_listening(store) is not None:
            _through_daemon(settings, store, action, names, targets, by)
            via = "grace serve"
        else:
            asyncio.run(_directly(settings, store, action, targets, by))
            via = "directly (no grace serve running)"
    finally:
        store.close()
    rows = [_row(settings, c) for c in targets]
    if json_out:
        emit_json({"action": action, "via": via, "services": rows})
        return
    console = _console()
    for r in rows:
        pid = f" (pid {r['pid']})" if r["pid"] else ""
        console.print(f"{r['name']}: {r['status']}{pid} — {action} done {via}")
    if via.startswith("directly") and action != "stop":
        console.print("note: nothing restarts it if it dies until a 'grace serve' adopts it")


def _through_daemon(
    settings: Settings,
    store: Store,
    action: str,
    names: list[str],
    targets: list[ServiceConfig],
    by: str,
) -> None:
    from grace.supervisor import request_and_wait

    outcomes = asyncio.run(
        request_and_wait(
            store,
            settings.data_dir,
            action,  # type: ignore[arg-type]
            [c.name for c in targets],
            by=by,
            request_all=names == ["*"],
            timeout_s=max(c.stop_timeout_s for c in targets) + 10.0,
        )
    )
    pending = sorted(o.name for o in outcomes if not o.done)
    if pending:
        msg = f"grace serve has not finished '{action}' of {', '.join(pending)} yet"
        raise ConfigError(msg, hint="check 'grace services list' in a moment")


async def _directly(
    settings: Settings, store: Store, action: str, targets: list[ServiceConfig], by: str
) -> None:
    from grace.supervisor import Command, ServiceRunner
    from grace.supervisor._health import Prober
    from grace.supervisor._record import Recorder

    recorder = Recorder(store)
    writer = asyncio.create_task(recorder.run())
    try:
        for config in targets:
            runner = ServiceRunner(
                config,
                data_dir=settings.data_dir,
                log_dir=settings.log_dir,
                recorder=recorder,
                prober=Prober(now=store.clock.now),
            )
            await runner.apply_once(Command(action, by=by))  # type: ignore[arg-type]
        await recorder.flush()
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


@services_app.command()
def start(ctx: typer.Context, name: str, who: AsOpt = None, json_out: JsonOpt = False) -> None:
    """Start a service (clears its start-limit count and a ``fatal`` state)."""
    _act(ctx, "start", [name], _who(who), json_out)


@services_app.command()
def stop(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The service (or --all).")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Emergency stop: every supervised service.")
    ] = False,
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stop a service (SIGCONT, stop signal, SIGKILL after its timeout); it stays stopped."""
    if (name is None) == (not all_):
        msg = "name one service, or pass --all"
        raise ConfigError(msg, hint="grace services stop web | grace services stop --all")
    _act(ctx, "stop", ["*"] if all_ else [name or ""], _who(who), json_out)


@services_app.command()
def restart(ctx: typer.Context, name: str, who: AsOpt = None, json_out: JsonOpt = False) -> None:
    """Stop, then start a service (a manual start: its counters are cleared)."""
    _act(ctx, "restart", [name], _who(who), json_out)


@services_app.command()
def logs(
    ctx: typer.Context,
    name: str,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many last lines.")] = 50,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
) -> None:
    """The service's captured stdout and stderr (``<log_dir>/services/<name>.log``)."""
    from grace.supervisor import log_path

    config = _pick(_configs(ctx), name)
    path = log_path(_state(ctx).settings().log_dir, config.name)
    if not path.is_file():
        msg = f"no log yet for {name} ({path})"
        raise ConfigError(msg, hint="it is written once the service has started")
    typer.echo("".join(_tail(path, lines)), nl=False)
    if follow:
        _follow(path)


def _tail(path: Path, lines: int) -> list[str]:
    from collections import deque

    with path.open(encoding="utf-8", errors="replace") as f:
        return list(deque(f, maxlen=max(lines, 0)))


def _follow(path: Path) -> None:  # pragma: no cover - interactive
    with path.open(encoding="utf-8", errors="replace") as f:
        f.seek(0, 2)
        while True:
            line = f.readline()
            if line:
                typer.echo(line, nl=False)
            else:
                time.sleep(0.2)
