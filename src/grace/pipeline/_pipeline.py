"""sources → bounded queue → match + govern → durable runs → runner workers.

Back-pressure, not loss: when the queue is full a source waits. At most one run per target
service executes at a time. Everything that must survive a restart is a row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from grace.events import Event
from grace.ingest import Submitted
from grace.logs import bind_context, get_logger
from grace.pipeline._counters import PipelineCounters
from grace.pipeline._decide import Decider, Outcome
from grace.runner import Runner
from grace.runs import RunStatus
from grace.store import Store

__all__ = ("Pipeline",)

log = get_logger("pipeline")


class Pipeline:
    """The running flow of one ``grace serve``. Implements :class:`grace.ingest.Ingest`."""

    def __init__(
        self,
        *,
        store: Store,
        decider: Decider,
        runner: Runner,
        queue_size: int = 10_000,
        workers: int = 4,
        on_outcome: Callable[[Event, list[Outcome]], None] | None = None,
    ) -> None:
        self.store = store
        self.decider = decider
        self.runner = runner
        self.workers = workers
        self.counters = PipelineCounters()
        self.on_outcome = on_outcome
        self._events: tuple[MemoryObjectSendStream[Event], MemoryObjectReceiveStream[Event]] = (
            anyio.create_memory_object_stream[Event](queue_size)
        )
        self._runs: tuple[MemoryObjectSendStream[str], MemoryObjectReceiveStream[str]] = (
            anyio.create_memory_object_stream[str](max(queue_size, 1000))
        )
        self._service_locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)
        self.accepting = True
        self._executing = 0

    # -- Ingest -----------------------------------------------------------------------------

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        """Record the event once, then queue it (waiting while the queue is full)."""
        if not self.accepting:
            return Submitted(False, event.id, "shutting down")
        fresh = await anyio.to_thread.run_sync(
            partial(self.store.insert_event, event, event_key=event_key)
        )
        if not fresh:
            self.counters.duplicates[event.source] += 1
            return Submitted(False, event.id, "duplicate")
        self.counters.received[event.source] += 1
        send = self._events[0]
        try:
            send.send_nowait(event)
        except anyio.WouldBlock:
            self.counters.queue_full_waits += 1
            await send.send(event)
        self.counters.queue_depth = send.statistics().current_buffer_used
        return Submitted(True, event.id)

    async def emit(self, event: Event, event_key: str | None) -> None:
        """The ``emit`` sources call."""
        await self.submit(event, event_key=event_key)

    async def open_episode(self, key: str, *, service: str = "") -> bool:
        return bool(
            await anyio.to_thread.run_sync(partial(self.store.open_episode, key, service=service))
        )

    async def resolve_episode(self, key: str) -> bool:
        return bool(await anyio.to_thread.run_sync(self.store.resolve_episode, key))

    async def heartbeat(self, name: str, *, detail: dict[str, object] | None = None) -> None:
        await anyio.to_thread.run_sync(partial(self.store.beat, name, detail=dict(detail or {})))

    # -- stages -----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Decide on queued events and execute queued runs, until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._decide_loop)
            for i in range(self.workers):
                tg.start_soon(self._worker, i)
            await self._requeue_durable_runs()
            task_status.started()

    async def _requeue_durable_runs(self) -> None:
        """Runs left ``queued`` by a previous process are the durable queue: pick them up."""
        queued = await anyio.to_thread.run_sync(
            partial(self.store.list_runs, status=RunStatus.QUEUED.value, limit=10_000)
        )
        for run in reversed(queued):
            await self._runs[0].send(run.id)

    async def _decide_loop(self) -> None:
        receive = self._events[1]
        async for event in receive:
            self.counters.queue_depth = receive.statistics().current_buffer_used
            with bind_context(event_id=event.id):
                outcomes = await anyio.to_thread.run_sync(self.decider.decide, event)
            if outcomes:
                self.counters.matched += 1
            for outcome in outcomes:
                self.counters.decisions[outcome.decision.kind.value] += 1
                log.info(
                    f"{outcome.decision.kind.value}: {outcome.decision.playbook} "
                    f"({outcome.decision.reason})",
                    event_type=f"decision.{outcome.decision.kind.value}",
                    event_id=event.id,
                    run_id=outcome.run_id,
                )
                if outcome.run_id is not None and outcome.decision.kind.value == "queued":
                    await self._runs[0].send(outcome.run_id)
            if self.on_outcome is not None:
                self.on_outcome(event, outcomes)

    async def _worker(self, number: int) -> None:
        async for run_id in self._runs[1]:
            run = await anyio.to_thread.run_sync(self.store.get_run, run_id)
            if run.status is not RunStatus.QUEUED:
                continue
            # One run per target service at a time; runs without a service run freely.
            lock = self._service_locks[run.service] if run.service else None
            self._executing += 1
            try:
                if lock is None:
                    final = await self.runner.execute(run_id)
                else:
                    async with lock:
                        final = await self.runner.execute(run_id)
            finally:
                self._executing -= 1
            self.counters.runs_finished[final.status.value] += 1

    def busy(self) -> bool:
        """True while events wait for a decision or runs are queued or executing."""
        events = self._events[1].statistics().current_buffer_used
        runs = self._runs[1].statistics().current_buffer_used
        return bool(events or runs or self._executing)

    async def close_intake(self) -> None:
        """Stop accepting events (shutdown): sources and API get ``shutting down``."""
        self.accepting = False

    def stats(self) -> dict[str, Any]:
        return self.counters.snapshot()
