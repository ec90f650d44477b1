"""``grace ports scan|list|claim|release|prune``: the port inventory (docs/ports.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from grace.cli._app import JsonOpt, _console, _state, app
from grace.cli._govern import AsOpt, _who
from grace.cli._state import emit_json
from grace.errors import ConfigError

if TYPE_CHECKING:
    from grace.engine import Engine
    from grace.ports import SyncReport

__all__ = ("ports_app",)

ports_app = typer.Typer(
    help="The port inventory: who listens where, who owns which port, what is stale.",
    no_args_is_help=True,
)
app.add_typer(ports_app, name="ports")

RangeOpt = Annotated[
    str | None,
    typer.Option("--range", help="Ports to scan, LOW-HIGH (default: the ports.range setting)."),
]


def _range(text: str | None) -> tuple[int, int] | None:
    from grace.ports import parse_range

    if text is None:
        return None
    try:
        return parse_range(text)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --range 8000-8010") from None


def _sync(
    engine: Engine, *, by: str, scan_range: str | None, prune: bool, dry_run: bool
) -> SyncReport:
    from grace.ports import sync_ports

    settings = engine.settings
    return sync_ports(
        engine.store,
        settings.ports,
        data_dir=settings.data_dir,
        by=by,
        scan_range=_range(scan_range),
        prune=prune,
        dry_run=dry_run,
    )


def _when(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


@ports_app.command("scan")
def scan(
    ctx: typer.Context, scan_range: RangeOpt = None, who: AsOpt = None, json_out: JsonOpt = False
) -> None:
    """Scan the range for listening sockets; register what config declares and what listens
    unregistered (source ``observed``); refresh the watchdog's monitor list."""
    with _state(ctx).engine() as engine:
        report = _sync(engine, by=_who(who), scan_range=scan_range, prune=False, dry_run=False)
    if json_out:
        emit_json(report.to_json())
        return
    from rich.table import Table

    owners = {v.record.port: v for v in report.verdicts}
    table = Table("port", "address", "pid", "process", "command line", "registered to", "verdict")
    for item in report.listeners:
        verdict = owners.get(item.port)
        table.add_row(
            str(item.port),
            item.address,
            str(item.pid) if item.pid is not None else "-",
            item.name or "unknown owner",
            " ".join(item.cmdline) or "-",
            f"{verdict.record.service} ({verdict.record.source})" if verdict else "-",
            verdict.kind if verdict else "-",
        )
    console = _console()
    low, high = report.range
    if report.listeners:
        console.print(table)
    else:
        console.print(f"nobody listens on ports {low}-{high}")
    _notes(report)


def _notes(report: SyncReport) -> None:
    console = _console()
    for record in report.registered:
        console.print(f"registered port {record.port} to {record.service} ({record.source})")
    for record in report.adopted:
        console.print(f"port {record.port} of {record.service}: owner is pid {record.pid}")
    for conflict in report.conflicts:
        from rich.markup import escape

        console.print(f"[bold red]conflict[/bold red]: {escape(str(conflict))}", markup=True)
    stale = [v for v in report.stale if v not in report.pruned]
    for verdict in stale:
        console.print(f"stale: port {verdict.record.port}: {verdict.reason}", highlight=False)


@ports_app.command("list")
def list_ports(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """The registry: each port's owner, source, pid, when claimed and last seen."""
    with _state(ctx).engine() as engine:
        rows = engine.store.list_ports()
    if json_out:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        _console().print("no ports registered (grace ports scan, or grace ports claim)")
        return
    from rich.table import Table

    table = Table("port", "service", "source", "pid", "claimed", "by", "last seen")
    for r in rows:
        table.add_row(
            f"{r.port}/{r.protocol}",
            r.service,
            r.source,
            str(r.pid) if r.pid is not None else "-",
            _when(r.claimed_at),
            r.claimed_by,
            _when(r.last_seen_at),
        )
    _console().print(table)


@ports_app.command("claim")
def claim(
    ctx: typer.Context,
    port: Annotated[int, typer.Argument(help="The TCP port.", min=1, max=65535)],
    service: Annotated[str, typer.Option("--service", help="The service that owns it.")],
    pid: Annotated[
        int | None,
        typer.Option("--pid", help="Its owner process (default: whoever listens on it now)."),
    ] = None,
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register SERVICE as the owner of PORT (audited ``port.claimed``)."""
    from grace.ports import process_info, scan_ports

    create_time: float | None = None
    if pid is None:
        owners = [item for item in scan_ports(port, port) if item.owner_known]
        if owners:
            pid, create_time = owners[0].pid, owners[0].create_time
    else:
        info = process_info(pid)
        if not info.alive:
            msg = f"no process has pid {pid}"
            raise ConfigError(msg, hint="give the pid of the process that listens, or no --pid")
        create_time = info.create_time
    with _state(ctx).engine() as engine:
        record = engine.store.claim_port(
            port, service=service, by=_who(who), pid=pid, create_time=create_time
        )
    if json_out:
        emit_json(record.to_json())
        return
    owner = f" (pid {record.pid})" if record.pid is not None else " (nobody listens yet)"
    _console().print(f"port {record.port} claimed for {record.service}{owner}")


@ports_app.command("release")
def release(
    ctx: typer.Context,
    port: Annotated[int, typer.Argument(help="The TCP port.", min=1, max=65535)],
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Forget PORT's owner (audited ``port.released``)."""
    with _state(ctx).engine() as engine:
        record = engine.store.release_port(port, by=_who(who), reason="released by an operator")
    if json_out:
        emit_json({"released": record is not None, "port": port})
    elif record is None:
        _console().print(f"port {port} is not registered")
    else:
        _console().print(f"port {port} released (was {record.service}, {record.source})")
    if record is None:
        raise typer.Exit(1)


@ports_app.command("prune")
def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be pruned; change nothing.")
    ] = False,
    scan_range: RangeOpt = None,
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Scan, then remove stale registrations: dead owner, reused pid, or unanswered past the
    grace period (each audited ``port.pruned``). Conflicts are reported, never pruned."""
    with _state(ctx).engine() as engine:
        report = _sync(engine, by=_who(who), scan_range=scan_range, prune=True, dry_run=dry_run)
    if json_out:
        emit_json(report.to_json())
        return
    console = _console()
    verb = "would prune" if dry_run else "pruned"
    for verdict in report.pruned:
        console.print(
            f"{verb} port {verdict.record.port} ({verdict.record.service}): {verdict.reason}",
            highlight=False,
        )
    if not report.pruned:
        console.print("nothing stale")
    _notes(report)
    pairs = ", ".join(f"{s}:{p}" for s, p in report.monitor) or "none"
    console.print(f"monitor list: {pairs}")
