"""Restarting the ``log`` source repeats no line and misses none (offsets are rows in the store).

A graceful stop saves the exact offset; after SIGKILL, lines re-read from the last saved
offset carry the event keys they had, so the store's idempotent insert drops them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.sources import SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig
from grace.store import Store

pytestmark = pytest.mark.anyio

Writer = Callable[..., subprocess.Popen[str]]


def _line(i: int) -> str:
    return f"2026-01-01 12:00:00 INFO line {i:06d} lorem ipsum dolor sit amet"


def _source(ctx: SourceContext, path: Path, **config: Any) -> LogSource:
    return LogSource(
        LogSourceConfig.model_validate({"type": "log", "path": str(path), **config}), ctx
    )


def _append(path: Path, numbers: Sequence[int]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(f"{_line(i)}\n" for i in numbers))


async def _run_until(source: LogSource, sink: Any, count: int, *, settle: float = 0.3) -> None:
    """Run ``source`` until ``count`` events were accepted (and a moment more), then stop it."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run, sink.emit)
        await sink.wait_for(count)
        await anyio.sleep(settle)
        tg.cancel_scope.cancel()


async def test_stop_and_restart_mid_stream_repeats_nothing(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_writer: Writer
) -> None:
    """Stopped mid-stream while the writer goes on, a new source continues exactly."""
    path, total = tmp_path / "app.log", 1200
    path.touch()
    writer = log_writer(path, total, 300)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path, start_at="beginning").run, log_sink.emit)
        await log_sink.wait_for(300)
        tg.cancel_scope.cancel()
    stopped_at = len(log_sink.accepted)
    await anyio.sleep(0.5)  # the writer keeps writing while no source runs
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, total)
    assert writer.wait(timeout=10) == 0
    assert log_sink.messages == [_line(i) for i in range(total)]
    keys = [k for k, _ in log_sink.emitted]
    assert len(keys) == len(set(keys)) == total, "a graceful stop must not repeat a line"
    assert 300 <= stopped_at < total


async def test_sigkill_mid_stream_repeats_only_with_the_same_key(
    tmp_path: Path,
    log_store: Store,
    log_writer: Writer,
    log_source_process: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    """A source process killed with SIGKILL twice: the store ends with every line exactly once.

    Lines emitted again after a kill (those after the last saved offset) must carry the key
    they had the first time; the store then counts each line once.
    """
    path, total = tmp_path / "app.log", 1500
    path.touch()
    config = {"type": "log", "path": str(path), "start_at": "beginning"}
    writer = log_writer(path, total, 500)
    for _ in range(2):
        child = log_source_process(config)
        await anyio.sleep(0.8)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    child = log_source_process(config)
    assert writer.wait(timeout=30) == 0
    with anyio.fail_after(30):
        while log_store.count_events() < total:  # noqa: ASYNC110 - rows written by another process
            await anyio.sleep(0.1)
    await anyio.sleep(0.5)
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=10)
    assert log_store.count_events() == total
    emitted = [
        json.loads(line)
        for line in (tmp_path / "emitted.jsonl").read_text().splitlines()
        if line.endswith("]")
    ]
    by_key: dict[str, set[str]] = {}
    for key, message in emitted:
        by_key.setdefault(key, set()).add(message)
    assert all(len(messages) == 1 for messages in by_key.values())
    assert sorted(m for (m,) in by_key.values()) == [_line(i) for i in range(total)]


async def test_rotated_while_stopped(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_logger: Any
) -> None:
    """Lines added before a rotation that happened while stopped are read from the renamed
    file, then the files rotated after it, then the new file."""
    path = tmp_path / "app.log"
    (tmp_path / "app.log.3").write_text("an old backup, not to be read\n")
    _append(path, range(100))
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, 100)
    _append(path, range(100, 150))
    os.rename(path, tmp_path / "app.log.2")
    _append(path, range(150, 200))
    os.rename(path, tmp_path / "app.log.1")
    _append(path, range(200, 250))
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, 250)
    assert log_sink.messages == [_line(i) for i in range(250)]
    assert len(log_sink.emitted) == 250
    assert log_logger.of("source.log.rotated_while_stopped") == [
        f"log source log:{path}: {path} rotated while stopped: 2 rotated file(s) to finish"
    ]


async def test_copytruncated_while_stopped(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """copytruncate while stopped: the rest is read from the copy, then the file from 0."""
    path = tmp_path / "app.log"
    _append(path, range(100))
    await _run_until(_source(log_ctx, path), log_sink, 0, settle=0.3)
    _append(path, range(100, 150))  # the source started at the end: only these count
    shutil.copyfile(path, tmp_path / "app.log.1")
    os.truncate(path, 0)
    _append(path, range(150, 200))
    await _run_until(_source(log_ctx, path), log_sink, 100)
    assert log_sink.messages == [_line(i) for i in range(100, 200)]
    assert len(log_sink.emitted) == 100


async def test_start_at_end_is_remembered(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """``start_at: end`` applies once: lines written while stopped are read on restart."""
    path = tmp_path / "app.log"
    _append(path, range(10))
    await _run_until(_source(log_ctx, path), log_sink, 0)
    assert log_sink.emitted == []
    _append(path, range(10, 20))
    await _run_until(_source(log_ctx, path), log_sink, 10)
    assert log_sink.messages == [_line(i) for i in range(10, 20)]


async def test_traceback_pending_at_stop_is_read_again_whole(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """A traceback cut by a stop is not emitted half: the offset stays before its header."""
    path = tmp_path / "app.log"
    path.write_text(
        "ERROR first\nTraceback (most recent call last):\n"
        '  File "/srv/app.py", line 1, in <module>\n'
    )
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, 1)
    with path.open("a") as f:
        f.write("KeyError: 'x'\nINFO after\n")
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, 3)
    assert [(e.kind, e.message) for e in log_sink.accepted] == [
        ("log", "ERROR first"),
        ("exception", "KeyError: 'x'"),
        ("log", "INFO after"),
    ]
    assert len(log_sink.emitted) == 3


async def test_offset_rows_name_file_and_position(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_store: Store
) -> None:
    """The row is ``<source name>|<path>`` → ``dev:ino:epoch:head`` and the byte offset."""
    path = tmp_path / "app.log"
    _append(path, range(5))
    await _run_until(_source(log_ctx, path, start_at="beginning"), log_sink, 5)
    saved = log_store.get_offset(f"log:{path}|{path}")
    assert saved is not None
    file_key, offset = saved
    st = os.stat(path)
    assert file_key.startswith(f"{st.st_dev}:{st.st_ino}:ep_")
    assert offset == st.st_size
    key, event = log_sink.emitted[1]
    assert key == f"{file_key.rsplit(':', 2)[0]}:{event.attributes['offset']}"
