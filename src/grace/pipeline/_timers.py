"""Due timers become governed runs: the other half of ``playbook.schedule``.

Every maintenance tick of ``grace serve``'s pipeline, each pending timer whose time has come
is handed to the engine as a run request (trigger ``schedule``, requested by ``timer:<key>``,
child of the run that scheduled it). The governor decides on it like on any request: the
emergency stop, a disabled playbook, the policy and the change window all apply. The request
carries the idempotency key ``timer:<id>``, so a crash between creating the run and marking
the timer fired (or a second node doing the same) gets the same run back: one run per timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import anyio.to_thread

from grace.errors import GraceError
from grace.logs import get_logger
from grace.runs import Run
from grace.store import Store
from grace.store._timers import Timers
from grace.types import Clock

__all__ = ("RunRequester", "fire_due_timers")

log = get_logger("timers")


@runtime_checkable
class RunRequester(Protocol):
    """What fires a timer: the engine's governed ``new_run``."""

    def new_run(
        self,
        name: str,
        *,
        vars: Mapping[str, Any] | None = None,
        trigger: str = "manual",
        requested_by: str = "cli",
        parent_run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Create a run as the governor rules (raises when it refuses)."""


def _fire(store: Store, requester: RunRequester, timer: dict[str, Any]) -> Run | None:
    timers = Timers(store)
    try:
        run = requester.new_run(
            str(timer["playbook"]),
            vars=dict(timer.get("vars") or {}),
            trigger="schedule",
            requested_by=f"timer:{timer['key']}",
            parent_run_id=timer.get("parent_run_id"),
            idempotency_key=f"timer:{timer['id']}",
        )
    except GraceError as exc:  # refused by the governor, unknown playbook, …: audited, not retried
        timers.mark_fired(timer, run_id=None, status="refused", error=str(exc))
        log.warning(
            f"timer {timer['key']} for {timer['playbook']} started nothing: {exc}",
            event_type="timer.refused",
        )
        return None
    timers.mark_fired(timer, run_id=run.id, status=run.status.value)
    log.info(
        f"timer {timer['key']} fired: run {run.id} of {run.playbook} is {run.status.value}",
        event_type="timer.fired",
        run_id=run.id,
    )
    return run


async def fire_due_timers(store: Store, requester: object, clock: Clock) -> list[tuple[str, str]]:
    """Turn every due timer into a run request; ``(run_id, service)`` of the queued ones."""
    if not isinstance(requester, RunRequester):
        return []
    try:
        due = await anyio.to_thread.run_sync(Timers(store).due, clock.now())
    except GraceError as exc:  # the store is down: the next tick tries again
        log.warning(f"cannot read timers: {exc}", event_type="timer.read_failed")
        return []
    started: list[tuple[str, str]] = []
    for timer in due:
        run = await anyio.to_thread.run_sync(_fire, store, requester, timer)
        if run is not None and run.status.value == "queued":
            started.append((run.id, run.service))
    return started
