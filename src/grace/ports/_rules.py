"""The staleness rules: pure functions of a registry row, the live listeners and the time.

Nothing here reads the clock, the database or ``/proc``: process facts come in through a
lookup function, so each rule is unit-tested with a fake clock and made-up processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from grace.ports._model import (
    CREATE_TIME_TOLERANCE_S,
    Listener,
    PortRecord,
    ProcessInfo,
    Verdict,
)

__all__ = ("ProcessLookup", "judge", "monitor_list")

ProcessLookup = Callable[[int], ProcessInfo]
"""What is known of a pid now (:func:`grace.ports.process_info` in production)."""

MONITORED_SOURCES = frozenset({"declared", "claimed"})
"""Rows a watchdog probes: a service owns them. ``observed`` rows only say who listens."""


def _same_process(info: ProcessInfo, create_time: float | None) -> bool:
    if create_time is None or info.create_time is None:
        return True  # nothing recorded (or readable) to compare: trust the pid
    return abs(info.create_time - create_time) < CREATE_TIME_TOLERANCE_S


def judge(
    record: PortRecord,
    *,
    listeners: Sequence[Listener],
    processes: ProcessLookup,
    now: datetime,
    grace_s: float,
    service_pid: int | None = None,
) -> Verdict:
    """What to make of one registered port.

    In order: the row's owner pid is dead → ``dead_pid``; alive but a different process (its
    create time differs: the pid was reused) → ``pid_reused``; somebody listens → ``ok`` when
    it is the owner (or the owner's descendant, or unreadable), ``conflict`` when it is another
    process; nobody listens → ``quiet`` within ``grace_s`` of the last sighting (or of the
    claim), ``not_listening`` after it.

    Args:
        record: the registry row.
        listeners: the scan's listeners on ``record.port``.
        processes: pid → what is known of it now.
        now: the current time.
        grace_s: how long a port may go unanswered before it is stale.
        service_pid: the service's supervised pid (its state file), used to tell a conflict
            when the row itself names no owner.
    """
    if record.pid is not None:
        info = processes(record.pid)
        if not info.alive:
            reason = f"owner pid {record.pid} of {record.service} is gone"
            return Verdict(record, "dead_pid", reason)
        if not _same_process(info, record.create_time):
            reason = (
                f"pid {record.pid} is now another process (created {info.create_time}, "
                f"the owner was created {record.create_time}): the pid was reused"
            )
            return Verdict(record, "pid_reused", reason)
    if listeners:
        return _listened(record, listeners, processes, service_pid)
    since = record.last_seen_at or record.claimed_at
    idle = (now - since).total_seconds()
    what = "last seen" if record.last_seen_at is not None else "claimed"
    if idle > grace_s:
        reason = f"nobody has listened on port {record.port} for {idle:.0f}s ({what} {since.isoformat()}; grace {grace_s:g}s)"
        return Verdict(record, "not_listening", reason)
    reason = f"nobody listens on port {record.port} ({what} {idle:.0f}s ago, within the {grace_s:g}s grace)"
    return Verdict(record, "quiet", reason)


def _listened(
    record: PortRecord,
    listeners: Sequence[Listener],
    processes: ProcessLookup,
    service_pid: int | None,
) -> Verdict:
    owner = record.pid if record.pid is not None else service_pid
    known = [item for item in listeners if item.pid is not None]
    if not known:
        reason = f"port {record.port} is listened on (unknown owner: access denied)"
        return Verdict(record, "ok", reason, listener=listeners[0])
    if owner is None:  # nobody named: whoever listens becomes the owner
        first = known[0]
        return Verdict(record, "ok", f"held by {first.describe()}", listener=first, adopt=first)
    for item in known:
        assert item.pid is not None
        if item.pid == owner or owner in processes(item.pid).ancestors:
            adopt = item if record.pid is None else None  # the service's process: its owner now
            return Verdict(record, "ok", f"held by {item.describe()}", listener=item, adopt=adopt)
    other = known[0]
    reason = (
        f"port {record.port} of {record.service} is held by another process: "
        f"{other.describe()}, not pid {owner}"
    )
    return Verdict(record, "conflict", reason, listener=other)


def by_port(listeners: Iterable[Listener]) -> dict[int, list[Listener]]:
    """Listeners grouped by port."""
    grouped: dict[int, list[Listener]] = {}
    for item in listeners:
        grouped.setdefault(item.port, []).append(item)
    return grouped


def monitor_list(verdicts: Iterable[Verdict]) -> list[tuple[str, int]]:
    """``(service, port)`` pairs a watchdog should probe: owned by a service and held by it now."""
    pairs = {
        (v.record.service, v.record.port)
        for v in verdicts
        if v.kind == "ok" and v.record.source in MONITORED_SOURCES
    }
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


def unregistered(listeners: Iterable[Listener], registered: Mapping[int, object]) -> list[Listener]:
    """Listeners on ports the registry does not know (one per port, owner known first)."""
    out: dict[int, Listener] = {}
    for item in listeners:
        if item.port in registered:
            continue
        current = out.get(item.port)
        if current is None or (current.pid is None and item.pid is not None):
            out[item.port] = item
    return [out[port] for port in sorted(out)]
