"""Asking a running ``grace serve`` to start, stop or restart services, and waiting for it.

The request is a row in the store's ``controls`` table (``ServiceControls``); the daemon's
supervisor takes it within a fraction of a second and writes the outcome to the service's
state file. ``grace services`` and the ``service.*`` actions share this path.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from grace.supervisor._state import ServiceState, read_state
from grace.supervisor._supervisor import HEARTBEAT_NAME

if TYPE_CHECKING:
    from grace.store import Store

__all__ = (
    "DAEMON_FRESH_S",
    "ControlOutcome",
    "daemon_listening",
    "request_and_wait",
    "supervisor_beat_age",
)

ControlAction = Literal["start", "stop", "restart"]

DAEMON_FRESH_S = 3.0
"""A supervisor heartbeat younger than this means a ``grace serve`` is listening."""


def supervisor_beat_age(store: Store) -> float | None:
    """Seconds since a ``grace serve`` supervisor last beat, or None when none ever did."""
    seen = store.last_beats().get(HEARTBEAT_NAME)
    return None if seen is None else (datetime.now(UTC) - seen).total_seconds()


def daemon_listening(store: Store, *, fresh_s: float = DAEMON_FRESH_S) -> float | None:
    """Seconds since the supervisor's last heartbeat when younger than ``fresh_s``, else None."""
    age = supervisor_beat_age(store)
    return age if age is not None and age < fresh_s else None


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """What became of one service after a request."""

    name: str
    before: ServiceState | None
    after: ServiceState | None
    done: bool
    """The service reached the wanted state (or ``fatal``) after the request."""


async def request_and_wait(
    store: Store,
    data_dir: Path,
    action: ControlAction,
    names: Iterable[str],
    *,
    by: str,
    reason: str = "",
    timeout_s: float,
    request_all: bool = False,
    poll_s: float = 0.05,
) -> list[ControlOutcome]:
    """Write the requests, then poll the state files until each service moved or time is up.

    A service is done when its state file names the request as carried out
    (``handled_request``) and it is running (``start``, ``restart``: then under a pid the
    restart gave it) or stopped (``stop``); ``fatal`` (the start limit refused it) also ends
    the wait.
    ``request_all`` writes one request for ``*`` (every service) instead of one per name.
    """
    from grace.store._services import ServiceControls

    targets = list(names)
    before = {n: read_state(data_dir, n) for n in targets}
    asked = datetime.now(UTC).isoformat()
    controls = ServiceControls(store)
    ids: dict[str, str] = {}
    for name in ["*"] if request_all else targets:
        sent = await anyio.to_thread.run_sync(
            partial(controls.request, name, action, by=by, reason=reason)
        )
        ids[name] = str(sent["id"])
    wanted = "stopped" if action == "stop" else "running"
    deadline = time.monotonic() + timeout_s
    after: dict[str, ServiceState | None] = dict.fromkeys(targets)
    pending = set(targets)
    while True:
        for name in list(pending):
            state = read_state(data_dir, name)
            after[name] = state
            if state is None or state.updated_at < asked:
                continue
            if state.handled_request != ids.get("*" if request_all else name):
                continue  # not carried out yet (what changed was, e.g., an automatic restart)
            if state.status in (wanted, "fatal"):
                pending.discard(name)
        if not pending or time.monotonic() >= deadline:
            break
        await anyio.sleep(poll_s)
    return [ControlOutcome(n, before[n], after[n], n not in pending) for n in targets]
