"""The supervisor: every configured service's runner, the request channel, the heartbeat.

``grace serve`` runs one :class:`Supervisor` when ``services:`` is not empty. Operators reach
it through the store (``grace services stop web`` writes a request row, taken here a few
times a second), so the CLI works the same next to one daemon or, later, a cluster.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from grace.logs import get_logger
from grace.supervisor._config import ServiceConfig, parse_services
from grace.supervisor._health import Prober
from grace.supervisor._record import Emit, Recorder
from grace.supervisor._service import Command, ServiceRunner

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.store import Store

__all__ = ("HEARTBEAT_NAME", "Supervisor")

HEARTBEAT_NAME = "grace.supervisor"
"""The heartbeat record the supervisor pings; the CLI reads it to know a daemon is listening."""

FLUSH_S = 2.0
"""On shutdown, how long queued audit entries may take to be written before giving up."""

log = get_logger("supervisor")


class Supervisor:
    """Runs the services of one Grace process."""

    def __init__(
        self,
        services: Sequence[ServiceConfig],
        *,
        store: Store,
        data_dir: Path,
        log_dir: Path,
        emit: Emit | None = None,
        poll_s: float = 0.2,
        beat_s: float = 1.0,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.recorder = Recorder(store, emit=emit)
        self.poll_s = poll_s
        self.beat_s = beat_s
        self.runners: dict[str, ServiceRunner] = {}
        for config in services:
            prober = Prober(beats=store.last_beats, now=store.clock.now)
            self.runners[config.name] = ServiceRunner(
                config,
                data_dir=data_dir,
                log_dir=log_dir,
                recorder=self.recorder,
                prober=prober,
            )
        self.last_beat = 0.0
        """Monotonic time of the last control-loop pass (the in-process watchdog's signal)."""
        self.on_beat: Callable[[], None] | None = None
        """Called on every control-loop pass: a hook for the healer watchdog."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        emit: Emit | None = None,
        where: str = "grace.yaml",
    ) -> Supervisor:
        """Build from ``settings.services`` (raises ConfigError naming ``services[i].field``)."""
        return cls(
            parse_services(settings.services, where=where),
            store=store,
            data_dir=settings.data_dir,
            log_dir=settings.log_dir,
            emit=emit,
        )

    def command(self, name: str, command: Command) -> None:
        """Send ``command`` to service ``name`` (``*``: every service)."""
        targets = list(self.runners.values()) if name == "*" else [self.runners[name]]
        for runner in targets:
            runner.submit(command)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Adopt or start every service, then supervise until cancelled.

        Cancelling stops the supervision, not the services: they keep running and the next
        ``grace serve`` adopts them. ``grace services stop --all`` stops them.
        """
        tasks: list[asyncio.Task[None]] = []
        writer = asyncio.create_task(self.recorder.run())
        try:
            tasks.extend(
                asyncio.create_task(runner.run(), name=f"service:{runner.name}")
                for runner in self.runners.values()
            )
            log.info(
                f"supervisor running {len(self.runners)} services (pid {os.getpid()})",
                event_type="supervisor.ready",
            )
            task_status.started()
            await self._control_loop(tasks)
        finally:
            # Shielded: what the runners queued (their last exits and stops) is written even
            # when the supervisor is being cancelled.
            with anyio.CancelScope(shield=True):
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks, timeout=FLUSH_S)
                # The pipeline stops with us (same task group): from here on only durable
                # records; an event already handed to it may never be answered, hence the bound.
                self.recorder.emit = None
                with anyio.move_on_after(FLUSH_S):
                    await self.recorder.flush()
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
                for runner in self.runners.values():
                    await runner.prober.aclose()

    async def _control_loop(self, tasks: list[asyncio.Task[None]]) -> None:
        from grace.store._services import ServiceControls

        controls = ServiceControls(self.store)
        next_beat = 0.0
        while True:
            for task in tasks:
                failure = task.exception() if task.done() and not task.cancelled() else None
                if failure is not None:
                    raise failure  # a runner bug: fail loudly rather than stop supervising
            now = time.monotonic()
            self.last_beat = now
            if self.on_beat is not None:
                self.on_beat()
            try:
                requests = await asyncio.to_thread(controls.take)
                if now >= next_beat:
                    next_beat = now + self.beat_s
                    await asyncio.to_thread(self.store.beat, HEARTBEAT_NAME, detail=self._beat())
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away
                log.warning(
                    f"supervisor control poll failed: {exc!r}", event_type="supervisor.poll_failed"
                )
                requests = []
            for request in requests:
                self._apply(request)
            await asyncio.sleep(self.poll_s)

    def _apply(self, request: dict[str, Any]) -> None:
        name = str(request.get("service", ""))
        action = request.get("action")
        if action not in ("start", "stop", "restart") or (name != "*" and name not in self.runners):
            log.warning(f"ignored service request {request!r}", event_type="supervisor.bad_request")
            return
        self.command(
            name,
            Command(
                action,
                by=str(request.get("by", "operator")),
                reason=str(request.get("reason", "")),
                id=str(request.get("id", "")),
            ),
        )

    def _beat(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "services": {name: r.state.status for name, r in self.runners.items()},
        }
