"""The live scan: which processes listen on which TCP ports, read through psutil.

A socket whose owner cannot be read (another user's process, without root) is reported with
``pid=None`` ("unknown owner"); the scan never fails because of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psutil

from grace.ports._model import Listener, ProcessInfo

__all__ = ("process_info", "scan_ports")


def _connections() -> Iterable[tuple[Any, int | None]]:
    """Every TCP socket as ``(conn, pid)``; per process when the system-wide view is refused."""
    try:
        return [(c, c.pid) for c in psutil.net_connections(kind="tcp")]
    except psutil.AccessDenied:
        # macOS (and hardened Linux) refuse the system-wide view to non-root users: fall back
        # to the processes we may inspect; the others' sockets stay invisible.
        found: list[tuple[Any, int | None]] = []
        for proc in psutil.process_iter():
            try:
                found.extend((c, proc.pid) for c in proc.net_connections(kind="tcp"))
            except psutil.Error:
                continue
        return found


def _identity(pid: int) -> tuple[str, tuple[str, ...], float | None]:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            create_time = proc.create_time()
            name = proc.name()
            try:
                cmdline = tuple(proc.cmdline())
            except psutil.AccessDenied:
                cmdline = ()
    except psutil.Error:  # gone meanwhile, or not ours to read
        return "", (), None
    return name, cmdline, create_time


def scan_ports(low: int, high: int, *, also: Iterable[int] = ()) -> list[Listener]:
    """Sockets in LISTEN state on ports ``low``..``high`` (both included) and on ``also``,
    sorted by port.

    Each carries its process's pid, name, command line and create time when they can be read.
    """
    extra = frozenset(also)
    seen: set[tuple[int, str, int | None]] = set()
    listeners: list[Listener] = []
    for conn, pid in _connections():
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        port = int(conn.laddr.port)
        key = (port, str(conn.laddr.ip), pid)
        if not (low <= port <= high or port in extra) or key in seen:
            continue
        seen.add(key)
        if pid is None:
            listeners.append(Listener(port=port, address=str(conn.laddr.ip)))
            continue
        name, cmdline, create_time = _identity(pid)
        listeners.append(
            Listener(
                port=port,
                address=str(conn.laddr.ip),
                pid=pid if create_time is not None else None,
                name=name,
                cmdline=cmdline,
                create_time=create_time,
            )
        )
    listeners.sort(key=lambda item: (item.port, item.address, item.pid or 0))
    return listeners


def process_info(pid: int) -> ProcessInfo:
    """Whether ``pid`` is alive (a zombie is not), its create time and its ancestors."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return ProcessInfo(pid=pid, alive=False)
        create_time = proc.create_time()
        try:
            ancestors = tuple(p.pid for p in proc.parents())
        except psutil.Error:
            ancestors = ()
    except psutil.NoSuchProcess:
        return ProcessInfo(pid=pid, alive=False)
    except psutil.AccessDenied:
        return ProcessInfo(pid=pid, alive=True)  # it exists; its identity is not ours to read
    return ProcessInfo(pid=pid, alive=True, create_time=create_time, ancestors=ancestors)
