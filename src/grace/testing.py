"""Public test helpers: a fake clock, sequential ids, events, and a recording action.

Use them in your own tests of playbooks and actions, as Grace's suite does.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from grace.events import Event

if TYPE_CHECKING:
    from collections.abc import Callable

    from grace.config import Settings
    from grace.daemon import Daemon
    from grace.engine import Engine
    from grace.ingest import Submitted
    from grace.matching import Matcher
    from grace.pipeline import Decider
    from grace.store import Store

__all__ = (
    "FakeClock",
    "SequentialIds",
    "StoreIngest",
    "decider_for",
    "eventually",
    "free_port",
    "make_event",
    "serving",
)


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it).

    ``sleep`` advances the time at once instead of waiting, so retry backoff and
    ``wait.until`` run instantly in tests while every timestamp stays consistent.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.sleeps: list[float] = []
        """Every duration passed to :meth:`sleep`, in order."""

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()


class SequentialIds:
    """Ids ``run_000001``, ``run_000002``… — predictable in assertions."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


def make_event(message: str = "", **fields: Any) -> Event:
    """An :class:`Event` with sensible defaults for tests."""
    values: dict[str, Any] = {
        "id": fields.pop("id", "evt_test"),
        "time": fields.pop("time", datetime(2026, 1, 1, 12, 0, tzinfo=UTC)),
        "source": fields.pop("source", "test"),
        "kind": fields.pop("kind", "log"),
        "message": message,
    }
    values.update(fields)
    return Event(**values)


def decider_for(
    engine: Engine,
    *,
    mode: str = "execute",
    matcher: Matcher | None = None,
    notifier: Callable[..., Any] | None = None,
) -> Decider:
    """The decider ``grace serve`` builds over ``engine`` (its store, governor, clock, ids,
    config and change calendar), to decide events in a test without running the daemon.

    Args:
        mode: ``execute`` or ``observe``, whatever the settings say.
        matcher: the compiled triggers; default: compiled from ``engine.playbooks`` now.
        notifier: called when a circuit escalates (the daemon's is the escalation webhook).
    """
    from grace.daemon import build_matcher
    from grace.governance import context_flags
    from grace.pipeline import Decider

    compiled = matcher if matcher is not None else build_matcher(engine.playbooks, None)
    settings = engine.settings
    return Decider(
        store=engine.store,
        governor=engine.governor,
        playbooks=lambda: engine.playbooks,
        matcher=lambda: compiled,
        mode=lambda: mode,
        clock=engine.clock,
        ids=engine.ids,
        config=settings.config,
        governance=settings.governance,
        flags=lambda now: context_flags(engine.calendar, now),
        notifier=notifier,
    )


class StoreIngest:
    """:class:`grace.ingest.Ingest` straight onto the store's rows, without the pipeline: for
    testing the HTTP API (``create_app(StoreIngest(store), engine=engine)``) where ingestion
    itself is not under test. Events are recorded, never matched or decided."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        from functools import partial

        from grace.ingest import Submitted

        fresh = await anyio.to_thread.run_sync(
            partial(self.store.insert_event, event, event_key=event_key)
        )
        return Submitted(fresh, event.id, "" if fresh else "duplicate")

    async def open_episode(self, key: str, *, service: str = "") -> bool:
        return await anyio.to_thread.run_sync(lambda: self.store.open_episode(key, service=service))

    async def resolve_episode(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.store.resolve_episode, key)

    async def heartbeat(self, name: str, *, detail: dict[str, object] | None = None) -> None:
        await anyio.to_thread.run_sync(lambda: self.store.beat(name, detail=dict(detail or {})))


async def eventually(
    check: Callable[[], Any],
    *,
    within: float = 30.0,
    every: float = 0.05,
    what: str = "",
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``check`` (run in a worker thread) until it returns something truthy, and return it.

    An exception in ``ignore`` counts as "not yet". At the deadline: ``AssertionError`` naming
    ``what`` (or ``check``) and the last value seen. For tests of real processes, where a fixed
    sleep is either too short on a loaded machine or wastes time on an idle one.
    """
    import time

    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            last = await anyio.to_thread.run_sync(check)
        except ignore as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            msg = f"not within {within}s: {what or check} (last: {last!r})"
            raise AssertionError(msg)
        await anyio.sleep(every)


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(settings: Settings, *, reload_interval_s: float = 0.2) -> AsyncIterator[Daemon]:
    """A real daemon (sources, pipeline, runner, HTTP on ``settings.listen``) for the block's
    duration, as ``grace serve`` runs it, minus signal handling; its HTTP answers before the
    block starts, and its engine is closed after."""
    from functools import partial

    import httpx

    from grace.daemon import Daemon

    daemon = Daemon.create(settings)
    daemon.reload_interval_s = reload_interval_s
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            url = f"http://{settings.listen}/health"
            async with httpx.AsyncClient() as client:
                for _ in range(500):
                    try:
                        if (await client.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await anyio.sleep(0.02)
            yield daemon
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
