"""``ports.scan`` and ``ports.prune``: the port inventory from a playbook (docs/ports.md).

``ports.scan`` only looks: which processes listen on which ports of a range. ``ports.prune``
is one full pass of the inventory: it scans, registers declared and unregistered listeners,
removes stale registrations (dead owner, reused pid, unanswered past the grace period; each
audited ``port.pruned``), reports conflicts, and rewrites ``<data_dir>/ports/monitor.json``
for the watchdog. It reaches the registry through the database at ``database_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread
from pydantic import Field, field_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams
from grace.errors import ActionError, GraceError

if TYPE_CHECKING:
    from grace.ports import SyncReport

__all__ = ("PortsPruneParams", "PortsScanParams", "prune_ports", "scan_ports")


def _check_range(value: str) -> str:
    from grace.ports import parse_range

    parse_range(value)
    return value


class PortsScanParams(BuiltinParams):
    """Parameters of ``ports.scan``."""

    range: str = "8000-8010"
    """Ports to scan, ``LOW-HIGH`` (both included), e.g. ``"{{ config.ports_range }}"``."""
    ports: list[int] = Field(default_factory=list, max_length=1000)
    """More single ports to scan besides the range."""

    @field_validator("range")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        return _check_range(value)


class PortsPruneParams(PortsScanParams):
    """Parameters of ``ports.prune``."""

    grace_s: float = Field(default=300.0, ge=0, le=30 * 86400)
    """A registered port nobody listened on for longer than this is stale."""
    services: dict[str, list[int]] = Field(default_factory=dict)
    """Declared ports, ``{service: [port, …]}`` (as the ``ports.services`` setting)."""
    database_url: str | None = None
    """The registry's database; default the store Grace runs on (outside an engine: the data
    dir's SQLite file, ``<data_dir>/grace.db``)."""
    dry_run: bool = False
    """Report what would be pruned; change nothing (also when the run is a dry run)."""


def _describe_scan(p: PortsScanParams) -> str:
    extra = f" and {p.ports}" if p.ports else ""
    return f"would list the processes listening on ports {p.range}{extra}"


def _describe_prune(p: PortsPruneParams) -> str:
    return (
        f"would scan ports {p.range}, prune registrations stale for more than {p.grace_s:g}s "
        "(dead owner, reused pid, unanswered) and rewrite the watchdog's monitor list"
    )


@action(
    "ports.scan",
    params=PortsScanParams,
    risk="low",
    idempotent=True,
    outputs=("listeners", "ports", "unknown_owner"),
    describe=_describe_scan,
)
async def scan_ports(ctx: ActionContext, params: PortsScanParams) -> ActionResult:
    """List the processes listening on a range of TCP ports (pid, name, command line)."""
    from grace.ports import parse_range
    from grace.ports import scan_ports as scan

    low, high = parse_range(params.range)
    found = await anyio.to_thread.run_sync(lambda: scan(low, high, also=params.ports))
    unknown = sorted({item.port for item in found if item.pid is None})
    ports = sorted({item.port for item in found})
    summary = f"{len(ports)} port(s) listened on in {params.range}: {', '.join(map(str, ports)) or 'none'}"
    if unknown:
        summary += f" ({len(unknown)} with an unknown owner)"
    return ActionResult(
        ok=True,
        summary=summary,
        outputs={
            "listeners": [item.to_json() for item in found],
            "ports": ports,
            "unknown_owner": unknown,
        },
        changed=False,
    )


@action(
    "ports.prune",
    params=PortsPruneParams,
    risk="low",
    idempotent=True,
    outputs=("pruned", "stale", "conflicts", "monitor", "registered"),
    describe=_describe_prune,
)
async def prune_ports(ctx: ActionContext, params: PortsPruneParams) -> ActionResult:
    """Scan, prune stale port registrations (audited), report conflicts, sync the monitor list."""
    report = await anyio.to_thread.run_sync(lambda: _sync(ctx, params))
    pruned = [v.record.port for v in report.pruned]
    verb = "would prune" if report.dry_run else "pruned"
    summary = (
        f"{verb} {len(pruned)} stale port(s){': ' + ', '.join(map(str, pruned)) if pruned else ''}"
    )
    if report.conflicts:
        summary += f"; {len(report.conflicts)} conflict(s): {report.conflicts[0]}"
    summary += f"; monitoring {len(report.monitor)} port(s)"
    body = report.to_json()
    return ActionResult(
        ok=True,
        summary=summary,
        outputs={
            "pruned": body["pruned"],
            "stale": body["stale"],
            "conflicts": body["conflicts"],
            "monitor": body["monitor"],
            "registered": body["registered"],
        },
        changed=bool(pruned or report.registered or report.adopted) and not report.dry_run,
    )


def _sync(ctx: ActionContext, params: PortsPruneParams) -> SyncReport:
    from grace.ports import PortsConfig, parse_range, sync_ports
    from grace.store import open_store

    try:
        config = PortsConfig(
            range=parse_range(params.range), grace_s=params.grace_s, services=params.services
        )
    except ValueError as exc:
        raise ActionError(str(exc), retryable=False, type="BadPortsConfig") from exc
    url = ctx.store_url(params.database_url)
    try:
        store = open_store(url, clock=ctx.clock)
    except GraceError as exc:
        msg = f"ports.prune cannot open the port registry: {exc}"
        raise ActionError(msg, retryable=True, type="RegistryUnavailable") from exc
    try:
        return sync_ports(
            store,
            config,
            data_dir=ctx.data_dir,
            by=f"run:{ctx.run_id}",
            prune=True,
            dry_run=params.dry_run or ctx.dry_run,
        )
    finally:
        store.close()
