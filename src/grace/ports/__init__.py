"""The port inventory: which service owns which port, found stale, kept in sync (docs/ports.md).

The registry lives in the store (:class:`grace.store.Store`'s ``claim_port``,
``release_port``, ``list_ports``, ``mark_ports_seen``, ``stale_ports``, ``prune_ports``);
this package scans the live sockets, judges each registered port (:func:`judge`, pure) and
publishes the list of ports a watchdog should probe (:func:`monitor_list`,
``<data_dir>/ports/monitor.json``).
"""

from __future__ import annotations

from grace.ports._config import PortsConfig, parse_range
from grace.ports._inventory import (
    PortRegistry,
    SyncReport,
    monitor_path,
    read_monitor,
    service_pids,
    sync_ports,
    write_monitor,
)
from grace.ports._model import (
    CREATE_TIME_TOLERANCE_S,
    Listener,
    PortRecord,
    ProcessInfo,
    Source,
    Verdict,
    VerdictKind,
)
from grace.ports._rules import ProcessLookup, judge, monitor_list
from grace.ports._scan import process_info, scan_ports

__all__ = (
    "CREATE_TIME_TOLERANCE_S",
    "Listener",
    "PortRecord",
    "PortRegistry",
    "PortsConfig",
    "ProcessInfo",
    "ProcessLookup",
    "Source",
    "SyncReport",
    "Verdict",
    "VerdictKind",
    "judge",
    "monitor_list",
    "monitor_path",
    "parse_range",
    "process_info",
    "read_monitor",
    "scan_ports",
    "service_pids",
    "sync_ports",
    "write_monitor",
)
