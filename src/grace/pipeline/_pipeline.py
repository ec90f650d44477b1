"""sources → bounded queue → match + govern → durable runs → runner workers.

Back-pressure, not loss: when the queue is full a source waits. At most one run per target
service executes at a time. Everything that must survive a restart is a row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from grace.errors import RunError
from grace.events import Event, event_from_dict
from grace.governance._throttle import ThrottleState, throttle_due
from grace.ingest import Submitted
from grace.logs import bind_context, get_logger
from grace.pipeline._counters import PipelineCounters
from grace.pipeline._decide import Decider, Outcome
from grace.pipeline._timers import fire_due_timers
from grace.pipeline._writer import WriterThread
from grace.runner import Runner
from grace.runs import RunStatus
from grace.store import Store

__all__ = ("Pipeline",)

log = get_logger("pipeline")

DECIDE_BATCH = 256
"""Most events decided in one thread hop (their suppressions share one transaction)."""


class _Batch:
    """Events recorded together by one group commit, and what became of them."""

    __slots__ = ("done", "error", "fresh", "items")

    def __init__(self) -> None:
        self.items: list[tuple[Event, str | None]] = []
        self.done = anyio.Event()
        """Set once the batch's transaction committed (or failed: ``error``)."""
        self.fresh: list[bool] = []
        self.error: Exception | None = None


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
        tick_s: float = 1.0,
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
        # (run id, service): the worker needs no read before it claims.
        self._runs: tuple[
            MemoryObjectSendStream[tuple[str, str]], MemoryObjectReceiveStream[tuple[str, str]]
        ] = anyio.create_memory_object_stream[tuple[str, str]](max(queue_size, 1000))
        self._service_locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)
        self.accepting = True
        self._executing = 0
        self.tick_s = tick_s
        """How often pending runs expire, held throttles fire and approved runs are picked up."""
        self._dispatched: set[str] = set()
        self._filling: _Batch | None = None
        """The batch that submitted events join while the write before it is in flight."""
        self._last_write: anyio.Event | None = None
        """Set when the latest batch handed to the store is recorded (writes never overlap)."""
        self._writer = WriterThread()
        """The thread the group commits are written on (grace.pipeline._writer)."""
        self.on_tick: Callable[[], None] | None = None
        """Called when the runner starts and on every maintenance tick: the heartbeat the
        in-process watchdog reads (docs/watchdog.md)."""

    # -- Ingest -----------------------------------------------------------------------------

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        """Record the event once, then queue it (waiting while the queue is full).

        The event is committed to the store before this returns (an HTTP 202 is never sent
        for an event a crash could lose). Group commit: events submitted while a write is in
        flight are recorded together in the next transaction, so many concurrent requests
        cost a few commits, not one each.
        """
        if not self.accepting:
            return Submitted(False, event.id, "shutting down")
        fresh = await self._record(event, event_key)
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

    async def _record(self, event: Event, event_key: str | None) -> bool:
        """Join the batch being filled (or start one and write it); True when ``event`` is new.

        The first event of a batch makes its task the batch's writer: it waits for the write
        before (meanwhile later submissions join the batch), closes the batch and writes it.
        A submitter therefore waits for at most the write in flight and its own, never for a
        stream of later batches, and two writes of this process never contend for the
        database's write lock.
        """
        batch = self._filling
        if batch is not None:
            index = len(batch.items)
            batch.items.append((event, event_key))
            await batch.done.wait()
        else:
            batch = self._filling = _Batch()
            index = 0
            batch.items.append((event, event_key))
            await self._write_in_turn(batch, close=True)
        if batch.error is not None:
            raise batch.error
        return batch.fresh[index]

    async def _write_in_turn(self, batch: _Batch, *, close: bool) -> None:
        """Write ``batch`` once the write before it is done; ``close``: stop it filling first."""
        before, self._last_write = self._last_write, batch.done
        # Shielded: the writer's own request may be cancelled; the others still need it.
        with anyio.CancelScope(shield=True):
            try:
                if before is not None:
                    await before.wait()
                if close and self._filling is batch:
                    self._filling = None
                batch.fresh = await self._writer.run(self.store.insert_events, batch.items)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter, none hangs
                batch.error = exc
            finally:
                if self._last_write is batch.done:
                    self._last_write = None
                batch.done.set()

    async def submit_many(self, batch: Sequence[tuple[Event, str | None]]) -> list[Submitted]:
        """:meth:`submit` for a burst: the events are recorded in one transaction, then queued.

        The burst takes its turn with the intake's group commits (one write at a time).
        """
        if not self.accepting:
            return [Submitted(False, e.id, "shutting down") for e, _ in batch]
        burst = _Batch()
        burst.items = list(batch)
        await self._write_in_turn(burst, close=False)
        if burst.error is not None:
            raise burst.error
        results: list[Submitted] = []
        send = self._events[0]
        for (event, _key), new in zip(batch, burst.fresh, strict=True):
            if not new:
                self.counters.duplicates[event.source] += 1
                results.append(Submitted(False, event.id, "duplicate"))
                continue
            self.counters.received[event.source] += 1
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                self.counters.queue_full_waits += 1
                await send.send(event)
            results.append(Submitted(True, event.id))
        self.counters.queue_depth = send.statistics().current_buffer_used
        return results

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
            tg.start_soon(self._maintenance)
            if self.on_tick is not None:
                self.on_tick()
            task_status.started()

    async def _requeue_durable_runs(self) -> None:
        """Queued runs are the durable queue: pick up those no worker here has yet.

        At start that is what a previous process left; later, runs queued by ``grace approve``
        (another process) or by the API.
        """
        queued = await anyio.to_thread.run_sync(
            partial(self.store.list_runs, status=RunStatus.QUEUED.value, limit=10_000)
        )
        for run in reversed(queued):
            await self._dispatch(run.id, run.service)

    async def _dispatch(self, run_id: str, service: str) -> None:
        if run_id in self._dispatched:
            return
        self._dispatched.add(run_id)
        await self._runs[0].send((run_id, service))

    async def _maintenance(self) -> None:
        """Every ``tick_s``: expire pending runs, fire held throttles and due timers, pick up queued runs."""
        while True:
            await anyio.sleep(self.tick_s)
            if self.on_tick is not None:
                self.on_tick()
            try:
                expired = await anyio.to_thread.run_sync(self.store.expire_pending)
                for run_id in expired:
                    log.warning(f"run {run_id} expired", event_type="run.expired", run_id=run_id)
                await self._flush_held()
                if self.accepting:
                    await self._fire_timers()
                    await self._requeue_durable_runs()
            except RunError as exc:  # pragma: no cover - logged, retried next tick
                log.warning(f"maintenance: {exc}", event_type="pipeline.maintenance_failed")

    async def _fire_timers(self) -> None:
        """Due timers (``playbook.schedule``) become governed runs (grace.pipeline._timers)."""
        started = await fire_due_timers(self.store, self.runner.launcher, self.decider.clock)
        for run_id, service in started:
            await self._dispatch(run_id, service)

    async def _flush_held(self) -> None:
        """``once_after`` throttles hold an event; when the window ends it is decided again."""
        held = await anyio.to_thread.run_sync(self.store.held_groups)
        if not held:
            return
        now = self.decider.clock.now()
        library = self.decider.playbooks()
        for group in held:
            playbook = library.get(group.key.split(":", 1)[0])
            spec = playbook.spec.throttle if playbook is not None else None
            if playbook is None or spec is None or group.held_event is None:
                continue
            state = ThrottleState.from_dict(group.throttle or {})
            if not throttle_due(spec, state, now):
                continue
            event = event_from_dict(group.held_event)
            for match in self.decider.matcher().match_playbooks(event):
                if match.playbook != playbook.name:
                    continue
                outcome = await anyio.to_thread.run_sync(
                    partial(
                        self.decider.decide_one,
                        event,
                        match,
                        playbook,
                        extra_flags={"throttle_flush": True},
                    )
                )
                self._count(event, outcome)
                if outcome.run_id is not None and outcome.decision.kind.value == "queued":
                    await self._dispatch(outcome.run_id, event.service)

    async def _decide_loop(self) -> None:
        receive = self._events[1]
        async for first in receive:
            # Whatever else is already waiting is decided in the same thread hop and its
            # suppressions in one transaction (a storm costs one commit per batch).
            batch = [first]
            while len(batch) < DECIDE_BATCH:
                try:
                    batch.append(receive.receive_nowait())
                except anyio.WouldBlock:
                    break
            self.counters.queue_depth = receive.statistics().current_buffer_used
            if len(batch) == 1:
                with bind_context(event_id=first.id):
                    results = [await anyio.to_thread.run_sync(self.decider.decide, first)]
            else:
                results = await anyio.to_thread.run_sync(self.decider.decide_many, batch)
            for event, outcomes in zip(batch, results, strict=True):
                if outcomes:
                    self.counters.matched += 1
                for outcome in outcomes:
                    self._count(event, outcome)
                    if outcome.run_id is not None and outcome.decision.kind.value == "queued":
                        await self._dispatch(outcome.run_id, event.service)
                if self.on_outcome is not None:
                    self.on_outcome(event, outcomes)

    def _count(self, event: Event, outcome: Outcome) -> None:
        decision = outcome.decision
        self.counters.decisions[decision.kind.value] += 1
        if decision.kind.value == "suppressed":
            self.counters.suppressed[decision.guard] += 1
        # A storm's repeats are in the audit log and the counters; the log keeps to news.
        emit = log.debug if decision.kind.value == "suppressed" else log.info
        emit(
            f"{decision.kind.value}: {decision.playbook} ({decision.reason})",
            event_type=f"decision.{decision.kind.value}",
            event_id=event.id,
            run_id=outcome.run_id,
        )

    async def _worker(self, number: int) -> None:
        async for run_id, service in self._runs[1]:
            self._executing += 1
            try:
                await self._execute(run_id, service)
            finally:
                self._executing -= 1
                self._dispatched.discard(run_id)

    async def _execute(self, run_id: str, service: str) -> None:
        # One run per target service at a time (here a lock per service; across processes and
        # nodes the store's target lock); runs without a service run freely. The claim itself
        # checks the run is still queued.
        lock = self._service_locks[service] if service else None
        try:
            if lock is None:
                final = await self.runner.execute(run_id)
            else:
                async with lock:
                    final = await self.runner.execute(run_id)
        except RunError as exc:
            # Claimed elsewhere, target busy, emergency stop: the run stays where the store
            # put it; a queued one is picked up again on a later tick.
            log.warning(f"run {run_id} not started: {exc}", event_type="run.not_started")
            return
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
