"""Tier 1: the in-process watchdog of ``grace serve``.

Each critical component (the runner, the sources, the HTTP API, the supervisor, the peer
keeper) runs as its own asyncio task and beats into :class:`~grace.watchdog.Heartbeats`.
Every ``check_s`` the watchdog looks at each one:

- its task ended (cancelled, crashed, or returned while it should run): **down**;
- it has not beaten for its timeout: **stalled**, and its task is cancelled.

Either way the component is started again, at once the first time, then with the
supervisor's backoff, at most ``restart_limit.burst`` times in ``restart_limit.window_s``
(audited ``watchdog.component_restarted``). Past the limit the watchdog gives up
(``watchdog.component_fatal``) and raises :class:`ComponentFailed`: ``grace serve`` exits
and tier 2 (``grace watchdog``, or systemd) restarts the whole process.

A task crashing does not take the others down: they are separate tasks, not members of one
task group.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from grace.errors import GraceError
from grace.logs import get_logger
from grace.supervisor._policy import StartLimiter, backoff_delay
from grace.watchdog._audit import audit
from grace.watchdog._beats import SERVE_ROW, Heartbeats, row_name

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from grace.store import Store
    from grace.watchdog._config import WatchdogConfig

__all__ = ("Component", "ComponentFailed", "ComponentStatus", "ComponentWatchdog")

log = get_logger("watchdog")

ComponentStatus = Literal["starting", "running", "backoff", "stopped", "fatal"]

START_WAIT_S = 30.0
"""How long a (re)start may take to report itself started before the watchdog moves on."""
STOP_WAIT_S = 10.0
"""How long a cancelled component may take to finish before it is left behind."""


class ComponentFailed(GraceError):
    """A component kept failing past its restart limit: ``grace serve`` must restart whole."""


class _Started:
    """The ``task_status`` handed to a component: it says when the component is up."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def started(self, value: object = None) -> None:
        self.event.set()


@dataclass
class Component:
    """One supervised part of ``grace serve``."""

    name: str
    run: Callable[..., Coroutine[Any, Any, None]]
    """``async def run(*, task_status)``: calls ``task_status.started()`` once up, then runs
    until cancelled, beating meanwhile."""
    durable: bool = True
    """Write the ``grace.<name>`` row (False when the component writes its own row)."""
    status: ComponentStatus = "starting"
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0
    """In-process restarts since ``grace serve`` started."""
    next_start: float = 0.0
    """Monotonic time of the restart the backoff waits for."""
    limiter: StartLimiter | None = field(default=None, repr=False)
    last_problem: str = ""


class ComponentWatchdog:
    """Runs the components and restarts the ones that stop or stall."""

    def __init__(
        self,
        components: Sequence[Component],
        *,
        config: WatchdogConfig,
        beats: Heartbeats,
        store: Store | None,
        on_restart: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.components = {c.name: c for c in components}
        self.config = config
        self.beats = beats
        self.store = store
        self.on_restart = on_restart
        self._clock = clock
        for comp in components:
            comp.limiter = StartLimiter(config.restart_limit)
        self._pid = os.getpid()

    def task(self, name: str) -> asyncio.Task[None]:
        """The running task of component ``name`` (tests kill it to prove the restart)."""
        task = self.components[name].task
        if task is None:
            msg = f"component {name} has not started"
            raise LookupError(msg)
        return task

    async def run(self, *, task_status: TaskStatus[None] | None = None) -> None:
        """Start every component in order, then watch them until cancelled."""
        publisher: asyncio.Task[None] | None = None
        try:
            for comp in self.components.values():
                await self._start(comp, first=True)
            publisher = asyncio.create_task(self._publish_loop(), name="grace:heartbeats")
            if task_status is not None:
                task_status.started()
            while True:
                await asyncio.sleep(self.config.check_s)
                for comp in list(self.components.values()):
                    await self._check(comp)
        finally:
            tasks = [c.task for c in self.components.values() if c.task is not None]
            if publisher is not None:
                tasks.append(publisher)
            for task in tasks:
                task.cancel()
            if tasks:
                # Shielded: the components (the supervisor's last audit entries, runs being
                # marked interrupted) finish even while we are being cancelled.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait(tasks, timeout=STOP_WAIT_S)

    async def stop(self, *names: str) -> None:
        """Stop components for good (the drain at shutdown stops intake first)."""
        tasks = []
        for name in names:
            comp = self.components.get(name)
            if comp is None:
                continue
            comp.status = "stopped"
            if comp.task is not None and not comp.task.done():
                comp.task.cancel()
                tasks.append(comp.task)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT_S)

    async def _start(self, comp: Component, *, first: bool = False) -> None:
        status = _Started()
        comp.status = "starting"
        comp.started_at = self._clock()
        self.beats.beat(comp.name)  # a start counts as a beat: the timeout runs from here
        comp.task = asyncio.create_task(comp.run(task_status=status), name=f"grace:{comp.name}")
        waiter = asyncio.create_task(status.event.wait())
        try:
            await asyncio.wait(
                {comp.task, waiter}, timeout=START_WAIT_S, return_when="FIRST_COMPLETED"
            )
        finally:
            waiter.cancel()
        if first and comp.task.done() and not status.event.is_set() and not comp.task.cancelled():
            comp.task.result()  # it failed before it was up: fail ``grace serve`` with its error
        comp.status = "running"

    async def _check(self, comp: Component) -> None:
        if comp.status in ("stopped", "fatal"):
            return
        now = self._clock()
        if comp.status == "backoff":
            if now >= comp.next_start:
                await self._start(comp)
            return
        task = comp.task
        assert task is not None
        problem: str | None = None
        how = ""
        if task.done():
            if task.cancelled():
                problem, how = "down", "its task was cancelled"
            elif (exc := task.exception()) is not None:
                problem, how = "down", f"it crashed: {exc!r}"
            else:
                problem, how = "down", "it returned"
        else:
            age = self.beats.age(comp.name) or 0.0
            timeout = self.config.timeout_of(comp.name)
            if age > timeout:
                problem, how = "stalled", f"no heartbeat for {age:.1f}s (timeout {timeout:g}s)"
            elif now - comp.started_at >= self.config.stable_after_s and comp.limiter:
                comp.limiter.mark_stable()
        if problem is None:
            return
        await self._restart(comp, problem, how, now)

    async def _restart(self, comp: Component, problem: str, how: str, now: float) -> None:
        task, limiter = comp.task, comp.limiter
        assert task is not None
        assert limiter is not None
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_WAIT_S)
        comp.last_problem = how
        stable = now - comp.started_at >= self.config.stable_after_s
        failures = limiter.record_end(stable=stable)
        subject = f"component:{comp.name}"
        if not limiter.may_start(now):
            comp.status = "fatal"
            limit = self.config.restart_limit
            msg = (
                f"component {comp.name} is {problem} ({how}) and was restarted "
                f"{limiter.count(now)} times in {limit.window_s:g}s: giving up, grace serve "
                "stops so that it is restarted whole"
            )
            await self._audit("watchdog.component_fatal", subject, {"problem": problem, "how": how})
            log.error(msg, event_type="watchdog.component_fatal")
            raise ComponentFailed(msg)
        delay = backoff_delay(self.config.backoff, failures)
        limiter.record_start(now)
        comp.restarts += 1
        log.warning(
            f"component {comp.name} is {problem}: {how}; restarting"
            + (f" in {delay:.2f}s" if delay else ""),
            event_type="watchdog.component_down",
        )
        await self._audit(
            "watchdog.component_restarted",
            subject,
            {
                "problem": problem,
                "how": how,
                "restarts": comp.restarts,
                "delay_s": round(delay, 3),
                "pid": self._pid,
            },
        )
        if self.on_restart is not None:
            self.on_restart(comp.name)
        if delay:
            comp.status, comp.next_start = "backoff", now + delay
            return
        await self._start(comp)

    async def _audit(self, action: str, subject: str, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(audit, self.store, action, subject, payload)

    async def _publish_loop(self) -> None:
        """The rows other processes read: one per live component, and ``grace.serve``."""
        import psutil

        create_time = psutil.Process().create_time()
        while True:
            if self.store is not None:
                rows = self._rows(create_time)
                try:
                    await asyncio.to_thread(self._write_rows, rows)
                except Exception as exc:  # noqa: BLE001 - the database may be briefly away
                    log.warning(
                        f"could not write heartbeat rows: {exc!r}",
                        event_type="watchdog.beat_failed",
                    )
            await asyncio.sleep(self.config.heartbeat_s)

    def _rows(self, create_time: float) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        summary: dict[str, Any] = {}
        for comp in self.components.values():
            age = self.beats.age(comp.name)
            alive = (
                comp.status == "running"
                and age is not None
                and age <= self.config.timeout_of(comp.name)
            )
            summary[comp.name] = {
                "status": comp.status if alive or comp.status != "running" else "stalled",
                "restarts": comp.restarts,
            }
            if alive and comp.durable:
                rows[row_name(comp.name)] = {"pid": self._pid, "restarts": comp.restarts}
        rows[SERVE_ROW] = {"pid": self._pid, "create_time": create_time, "components": summary}
        return rows

    def _write_rows(self, rows: dict[str, dict[str, Any]]) -> None:
        assert self.store is not None
        for name, detail in rows.items():
            self.store.beat(name, detail=detail)
