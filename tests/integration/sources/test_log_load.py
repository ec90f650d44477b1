"""The ``log`` source under load: 10,000 lines/s of noise, a matching line every 0.1 s."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from grace.sources import LineHit, SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig
from grace.store import Store

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

_MATCH = re.compile(rb"(?m)^.*ERROR.*$|^Traceback \(most recent call last\):$")


def match_filter(buffer: bytes) -> list[LineHit]:
    """The fast-path filter of this test: lines with ERROR (and traceback headers)."""
    return [LineHit(m.start(), m.end()) for m in _MATCH.finditer(buffer)]


async def test_every_matching_line_once_under_noise(
    tmp_path: Path,
    log_ctx: SourceContext,
    log_sink: Any,
    log_store: Store,
    log_writer: Callable[..., subprocess.Popen[str]],
) -> None:
    """100,000 lines in 10 s, one in 1,000 matching: exactly those 100 events, none twice."""
    path, total, every = tmp_path / "app.log", 100_000, 1000
    path.touch()
    ctx = SourceContext(
        clock=log_ctx.clock, ids=log_ctx.ids, state=log_ctx.state, data_dir=log_ctx.data_dir,
        line_filter=match_filter,
    )  # fmt: skip
    source = LogSource(LogSourceConfig(type="log", path=str(path)), ctx)
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run, log_sink.emit)
        await anyio.sleep(0.2)
        started = time.monotonic()
        writer = log_writer(path, total, 10_000, handler="raw", match_every=every)
        assert await anyio.to_thread.run_sync(lambda: writer.wait(timeout=30)) == 0
        write_s = time.monotonic() - started
        await log_sink.wait_for(total // every)
        await anyio.sleep(0.5)
        tg.cancel_scope.cancel()
    assert write_s < 13, f"the writer took {write_s:.1f}s: the machine is too loaded to tell"
    expected = [
        f"2026-01-01 12:00:00 ERROR match {i:06d} database is locked"
        for i in range(0, total, every)
    ]
    assert log_sink.messages == expected
    assert len(log_sink.emitted) == len(expected)
    saved = log_store.get_offset(f"log:{path}|{path}")
    assert saved is not None
    assert saved[1] == path.stat().st_size
