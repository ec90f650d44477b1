"""The thread the intake's group commits run on.

One write at a time is all the intake does (``Pipeline._write_in_turn``), so a worker pool's
machinery per batch (anyio's ``to_thread``: a worker picked, a ``queue.Queue`` with its
condition variable, a cancel scope) is overhead on every request of the HTTP intake. Here one
thread takes jobs from a ``SimpleQueue`` and hands each result back with
``call_soon_threadsafe``. The thread ends after a second without work (a pipeline that is
dropped leaves no thread behind) and starts again with the next job.

On an event loop other than asyncio the job runs through ``anyio.to_thread`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

import anyio

__all__ = ("WriterThread",)

T = TypeVar("T")
A = TypeVar("A")

IDLE_S = 1.0
"""How long the thread waits for another job before it ends."""

_Job = tuple[Callable[[Any], Any], Any, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class WriterThread:
    """Runs ``func(arg)`` on one dedicated thread, one job after another."""

    def __init__(self, name: str = "grace-intake-writer") -> None:
        self.name = name
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def run(self, func: Callable[[A], T], arg: A) -> T:
        """``func(arg)`` on the writer thread; its result or its exception."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): the portable way
            return await anyio.to_thread.run_sync(func, arg)
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._jobs.put((func, arg, loop, future))
            if not self._running:
                self._running = True
                threading.Thread(target=self._serve, name=self.name, daemon=True).start()
        return await future

    def _serve(self) -> None:
        while True:
            try:
                func, arg, loop, future = self._jobs.get(timeout=IDLE_S)
            except Empty:
                with self._lock:  # a job put meanwhile is still taken by this thread
                    if self._jobs.empty():
                        self._running = False
                        return
                continue
            try:
                result = func(arg)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                _hand_back(loop, future, None, exc)
            else:
                _hand_back(loop, future, result, None)


def _hand_back(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the waiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
