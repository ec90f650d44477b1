"""One pass of the port inventory: scan, register, judge, prune, and publish the monitor list."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from grace.errors import ConfigError
from grace.ports._model import Listener, PortRecord, Verdict
from grace.ports._rules import ProcessLookup, monitor_list, unregistered
from grace.ports._scan import process_info, scan_ports

if TYPE_CHECKING:
    from grace.ports._config import PortsConfig
    from grace.ports._model import Source
    from grace.types import Clock

__all__ = (
    "PortRegistry",
    "SyncReport",
    "monitor_path",
    "read_monitor",
    "service_pids",
    "sync_ports",
    "write_monitor",
)

Scanner = Callable[..., list[Listener]]


class PortRegistry(Protocol):
    """What the inventory needs of the store (:class:`grace.store.Store` provides it)."""

    clock: Clock

    def claim_port(
        self,
        port: int,
        *,
        service: str,
        by: str,
        source: Source = "claimed",
        pid: int | None = None,
        create_time: float | None = None,
        protocol: str = "tcp",
    ) -> PortRecord:
        """Register an owner."""

    def list_ports(self, *, protocol: str | None = "tcp") -> list[PortRecord]:
        """Every row."""

    def mark_ports_seen(
        self,
        ports: Iterable[int],
        *,
        adopt: Mapping[int, Listener] | None = None,
        by: str = "scan",
        protocol: str = "tcp",
    ) -> list[PortRecord]:
        """Stamp sightings."""

    def port_verdicts(
        self,
        listeners: Sequence[Listener],
        *,
        processes: ProcessLookup,
        grace_s: float,
        service_pids: Mapping[str, int] | None = None,
        now: datetime | None = None,
    ) -> list[Verdict]:
        """Judge every row."""

    def prune_ports(
        self, verdicts: Sequence[Verdict], *, by: str, keep: Collection[int] = ()
    ) -> list[Verdict]:
        """Remove stale registrations (clear the owner of ``keep`` ports)."""


@dataclass
class SyncReport:
    """What one pass found and did."""

    range: tuple[int, int]
    at: datetime
    listeners: list[Listener]
    verdicts: list[Verdict]
    registered: list[PortRecord] = field(default_factory=list)
    """Rows this pass added: declared in config, or observed listeners nobody had registered."""
    adopted: list[PortRecord] = field(default_factory=list)
    pruned: list[Verdict] = field(default_factory=list)
    """Stale rows removed (with ``dry_run``: the rows that would be)."""
    conflicts: list[str] = field(default_factory=list)
    monitor: list[tuple[str, int]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def stale(self) -> list[Verdict]:
        """Every stale verdict (pruned or not)."""
        return [v for v in self.verdicts if v.stale]

    def to_json(self) -> dict[str, Any]:
        """JSON form (``--json`` and the actions' outputs)."""
        return {
            "range": list(self.range),
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "listeners": [item.to_json() for item in self.listeners],
            "ports": [v.to_json() for v in self.verdicts],
            "registered": [r.to_json() for r in self.registered],
            "adopted": [r.to_json() for r in self.adopted],
            "stale": [v.to_json() for v in self.stale],
            "pruned": [v.to_json() for v in self.pruned],
            "conflicts": list(self.conflicts),
            "monitor": [{"service": s, "port": p} for s, p in self.monitor],
        }


def service_pids(data_dir: Path, services: Iterable[str]) -> dict[str, int]:
    """Pids of the supervised services that run now (their state files under ``data_dir``)."""
    from grace.supervisor import read_state

    pids: dict[str, int] = {}
    for name in set(services):
        state = read_state(data_dir, name)
        if state is not None and state.status == "running" and state.pid is not None:
            pids[name] = state.pid
    return pids


def sync_ports(
    registry: PortRegistry,
    config: PortsConfig,
    *,
    data_dir: Path,
    by: str = "scan",
    scan_range: tuple[int, int] | None = None,
    prune: bool = False,
    dry_run: bool = False,
    record: bool = True,
    scanner: Scanner = scan_ports,
    processes: ProcessLookup = process_info,
) -> SyncReport:
    """Scan, register what config declares and what listens unregistered, judge, prune, publish.

    Args:
        registry: the store.
        config: the ``ports:`` settings.
        data_dir: where ``ports/monitor.json`` is written and service state files are read.
        by: the actor recorded in the audit log.
        scan_range: overrides ``config.range``.
        prune: remove stale registrations (audited ``port.pruned``); a port still declared in
            config keeps its row and loses only its owner, so the next listener is adopted.
        dry_run: change nothing (no rows, no file); report what would be done.
        record: register unregistered listeners as ``observed`` rows.
        scanner: the live scan (``scan_ports``).
        processes: the process lookup (``process_info``).
    """
    low, high = scan_range or config.range
    declared = config.declared()
    rows = {r.port: r for r in registry.list_ports()}
    listeners = scanner(low, high, also=set(rows) | set(declared))
    report = SyncReport(
        range=(low, high),
        at=registry.clock.now(),
        listeners=listeners,
        verdicts=[],
        dry_run=dry_run,
    )
    if not dry_run:
        _register(registry, report, declared, rows, listeners if record else [], by=by)
    pids = service_pids(
        data_dir, {r.service for r in registry.list_ports()} | set(declared.values())
    )
    verdicts = registry.port_verdicts(
        listeners, processes=processes, grace_s=config.grace_s, service_pids=pids
    )
    report.conflicts.extend(v.reason for v in verdicts if v.kind == "conflict")
    if not dry_run:
        seen = [v.record.port for v in verdicts if v.kind == "ok"]
        adopt = {v.record.port: v.adopt for v in verdicts if v.adopt is not None}
        report.adopted = registry.mark_ports_seen(seen, adopt=adopt, by=by)
    if prune:
        stale = [v for v in verdicts if v.stale]
        kept = {v.record.port for v in stale if declared.get(v.record.port) == v.record.service}
        if dry_run:
            report.pruned = [
                v for v in stale if v.record.port not in kept or v.record.pid is not None
            ]
        else:
            report.pruned = registry.prune_ports(verdicts, by=by, keep=kept)
    report.verdicts = verdicts
    report.monitor = monitor_list(verdicts)  # a stale row is never "ok": never monitored
    if not dry_run:
        write_monitor(data_dir, report.monitor, at=report.at)
    return report


def _register(
    registry: PortRegistry,
    report: SyncReport,
    declared: Mapping[int, str],
    rows: Mapping[int, PortRecord],
    listeners: Sequence[Listener],
    *,
    by: str,
) -> None:
    for port, service in sorted(declared.items()):
        row = rows.get(port)
        if row is not None and row.service == service:
            continue
        try:
            report.registered.append(
                registry.claim_port(port, service=service, by="config", source="declared")
            )
        except ConfigError as exc:
            report.conflicts.append(f"port {port} is declared for {service!r} but {exc}")
    taken = set(rows) | set(declared)
    for item in unregistered(listeners, dict.fromkeys(taken)):
        if not report.range[0] <= item.port <= report.range[1]:
            continue
        report.registered.append(
            registry.claim_port(
                item.port,
                service=item.name or "unknown",
                by=by,
                source="observed",
                pid=item.pid,
                create_time=item.create_time,
            )
        )


def monitor_path(data_dir: Path) -> Path:
    """``<data_dir>/ports/monitor.json``: what a separate watchdog process reads."""
    return data_dir / "ports" / "monitor.json"


def write_monitor(data_dir: Path, pairs: Sequence[tuple[str, int]], *, at: datetime) -> Path:
    """Replace the monitor file atomically: a reader sees the old list or the new one, whole."""
    path = monitor_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "updated_at": at.isoformat(),
        "monitor": [{"service": service, "port": port} for service, port in pairs],
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def read_monitor(data_dir: Path) -> list[tuple[str, int]]:
    """The monitor list last published, or ``[]`` when there is none (or it is unreadable)."""
    try:
        body = json.loads(monitor_path(data_dir).read_text(encoding="utf-8"))
        return [(str(item["service"]), int(item["port"])) for item in body["monitor"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
