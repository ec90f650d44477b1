"""The intake's writer thread (grace.pipeline._writer): results and errors come back to the
awaiting task, jobs run one at a time in order, and the thread ends when idle."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from grace.pipeline import _writer
from grace.pipeline._writer import WriterThread

pytestmark = pytest.mark.anyio


async def test_results_and_errors_reach_the_caller() -> None:
    writer = WriterThread()
    assert await writer.run(lambda x: x * 2, 21) == 42

    def fail(_: object) -> None:
        msg = "disk full (test)"
        raise OSError(msg)

    with pytest.raises(OSError, match="disk full"):
        await writer.run(fail, None)
    assert await writer.run(str, 7) == "7"  # the thread survived the error


async def test_jobs_run_one_at_a_time_in_order_on_one_thread() -> None:
    writer = WriterThread()
    active: list[int] = []
    order: list[int] = []
    threads: set[int] = set()

    def job(i: int) -> int:
        active.append(i)
        assert len(active) == 1
        threads.add(threading.get_ident())
        time.sleep(0.002)
        order.append(i)
        active.remove(i)
        return i

    results: dict[int, int] = {}

    async def one(i: int) -> None:
        results[i] = await writer.run(job, i)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    assert results == {i: i for i in range(20)}
    assert order == sorted(order)
    assert len(threads) == 1
    assert threading.get_ident() not in threads


async def test_the_thread_ends_when_idle_and_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_writer, "IDLE_S", 0.05)
    writer = WriterThread(name="grace-test-writer")

    def alive() -> int:
        return sum(t.name == "grace-test-writer" for t in threading.enumerate())

    assert await writer.run(lambda x: x, 1) == 1
    assert alive() == 1
    with anyio.fail_after(5):
        while alive():  # noqa: ASYNC110 - polling a thread's end, no event to wait on
            await anyio.sleep(0.02)
    assert await writer.run(lambda x: x + 1, 1) == 2
    assert alive() == 1
