"""The ``log`` source against real writer processes and a real store: rotation, truncation, globs.

Each test counts exact lines in exact order: a lost, repeated or reordered line fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from grace.sources import LineHit, SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig

pytestmark = pytest.mark.anyio

Writer = Callable[..., subprocess.Popen[str]]


def _line(i: int) -> str:
    return f"2026-01-01 12:00:00 INFO line {i:06d} lorem ipsum dolor sit amet"


def _source(ctx: SourceContext, path: Path | str, **config: Any) -> LogSource:
    return LogSource(
        LogSourceConfig.model_validate({"type": "log", "path": str(path), **config}), ctx
    )


async def _wait_exit(proc: subprocess.Popen[str]) -> None:
    assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=30)) == 0


def _append(path: Path, lines: Sequence[str]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))


def error_filter(buffer: bytes) -> list[LineHit]:
    """A tiny fast-path filter: lines with ERROR, and traceback headers."""
    return [
        LineHit(m.start(), m.end())
        for m in re.finditer(rb"(?m)^(?:.*ERROR.*|Traceback \(most recent call last\):)$", buffer)
    ]


async def test_rename_rotation_mid_stream_loses_nothing(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_writer: Writer, log_logger: Any
) -> None:
    """logrotate-style renames (app.log → .1 → .2) under a WatchedFileHandler writer.

    The pipeline is held up across each rename, so the lines written just before it are
    read afterwards, from the renamed file, through the descriptor the source kept.
    """
    path, total = tmp_path / "app.log", 1500
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path, start_at="beginning").run, log_sink.emit)
        writer = log_writer(path, total, 300)
        await log_sink.wait_for(300)
        log_sink.pause()
        await anyio.sleep(0.3)
        os.rename(path, tmp_path / "app.log.1")
        await anyio.sleep(0.3)
        log_sink.resume()
        await log_sink.wait_for(900)
        os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
        os.rename(path, tmp_path / "app.log.1")
        await _wait_exit(writer)
        await log_sink.wait_for(total)
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert log_sink.messages == [_line(i) for i in range(total)]
    assert len(log_sink.emitted) == total
    assert len(log_logger.of("source.log.rotated")) == 2


async def test_rotating_file_handler_many_rotations(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_writer: Writer
) -> None:
    """A writer that rotates itself every ~190 lines (~0.2 s), faster than the store takes events.

    New files are opened as soon as they appear, so the ones renamed away again before the
    reader got to them are still read whole, in order.
    """
    path, total = tmp_path / "app.log", 2500
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path, start_at="beginning").run, log_sink.emit)
        writer = log_writer(path, total, 1000, handler="rotating", max_bytes=12_000)
        await _wait_exit(writer)
        await log_sink.wait_for(total, limit_s=30)
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert len(await anyio.to_thread.run_sync(lambda: list(tmp_path.glob("app.log.*")))) >= 10
    assert log_sink.messages == [_line(i) for i in range(total)]
    assert len(log_sink.emitted) == total


async def test_copytruncate_while_the_writer_pauses(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_writer: Writer, log_logger: Any
) -> None:
    """copytruncate twice while the source is held up: it finishes the lines from the copy.

    The writer is stopped (SIGSTOP) across copy and truncate: a line written between the
    two would be lost by any tailer (it is in neither the copy nor the truncated file).
    """
    path, total = tmp_path / "app.log", 900
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path, start_at="beginning").run, log_sink.emit)
        writer = log_writer(path, total, 300, handler="plain")
        for n, copy in ((200, "app.log.1"), (550, "app.log.2")):
            await log_sink.wait_for(n)
            log_sink.pause()
            await anyio.sleep(0.3)
            writer.send_signal(signal.SIGSTOP)
            shutil.copyfile(path, tmp_path / copy)
            os.truncate(path, 0)
            writer.send_signal(signal.SIGCONT)
            log_sink.resume()
        await _wait_exit(writer)
        await log_sink.wait_for(total)
        await anyio.sleep(0.5)
        tg.cancel_scope.cancel()
    assert log_sink.messages == [_line(i) for i in range(total)]
    assert len(log_sink.emitted) == total
    assert (
        log_logger.of("source.log.truncated")
        == [f"log source log:{path}: {path} truncated: reading the rest of its copy"] * 2
    )


async def test_plain_truncation_reads_the_new_lines(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """After truncation, lines at offsets already seen are new lines with new keys."""
    path = tmp_path / "app.log"
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path).run, log_sink.emit)
        await anyio.sleep(0.2)
        _append(path, [_line(i) for i in range(100)])
        await log_sink.wait_for(100)
        os.truncate(path, 0)
        await anyio.sleep(0.2)
        _append(path, [_line(i) for i in range(100, 150)])
        await log_sink.wait_for(150)
        tg.cancel_scope.cancel()
    assert log_sink.messages == [_line(i) for i in range(150)]
    offsets = [e.attributes["offset"] for e in log_sink.accepted]
    assert offsets[100:] == offsets[:50]
    keys = [k for k, _ in log_sink.emitted]
    assert len(set(keys)) == 150


async def test_glob_picks_up_a_new_file_from_its_start(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any, log_writer: Writer
) -> None:
    """A glob skips old content of files present at start and reads new files whole."""
    old = tmp_path / "a.log"
    _append(old, ["2026-01-01 ERROR old line, before the source started"])
    (tmp_path / "notes.txt").write_text("not matched by the glob\n")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, tmp_path / "*.log", rescan_s=0.1).run, log_sink.emit)
        await anyio.sleep(0.3)
        _append(old, [_line(i) for i in range(10)])
        await log_sink.wait_for(10)
        writer = log_writer(tmp_path / "b.log", 200, 1000, first=10)
        await _wait_exit(writer)
        await log_sink.wait_for(210)
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    assert log_sink.messages == [_line(i) for i in range(210)]
    assert {e.attributes["file"] for e in log_sink.accepted} == {str(old), str(tmp_path / "b.log")}
    assert all(e.source == f"log:{tmp_path}/*.log" for e in log_sink.accepted)


async def test_partial_line_waits_for_its_newline(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """A line without its newline yet is not emitted (no half line); completed, it is once."""
    path = tmp_path / "app.log"
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path).run, log_sink.emit)
        await anyio.sleep(0.2)
        with path.open("a") as f:
            f.write("2026-01-01 ERROR data")
        await anyio.sleep(0.5)
        assert log_sink.emitted == []
        with path.open("a") as f:
            f.write("base is locked\r\nINFO next\n")
        await log_sink.wait_for(2)
        tg.cancel_scope.cancel()
    assert log_sink.messages == ["2026-01-01 ERROR database is locked", "INFO next"]
    assert [e.attributes["offset"] for e in log_sink.accepted] == [0, 37]


async def test_fast_path_with_a_traceback_across_chunks(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """With a filter only hit lines become events; a traceback spanning reads stays one event."""
    path = tmp_path / "app.log"
    _append(path, [_line(i) for i in range(20)])
    code = (
        "import sys\n"
        "for i in range(30): print('INFO noise', i, file=sys.stderr)\n"
        "print('2026-01-01 ERROR about to fail', file=sys.stderr)\n"
        "def level3(): raise RuntimeError('ERROR inside the exception message')\n"
        "def level2(): level3()\n"
        "def level1(): level2()\n"
        "level1()\n"
    )
    script = tmp_path / "worker_with_a_rather_long_module_name.py"
    script.write_text(code)
    with path.open("a") as log:
        await anyio.run_process([sys.executable, str(script)], stderr=log, check=False)
    _append(path, [_line(i) for i in range(20, 40)] + ["2026-01-01 ERROR after the traceback"])
    ctx = SourceContext(
        clock=log_ctx.clock, ids=log_ctx.ids, state=log_ctx.state, data_dir=log_ctx.data_dir,
        line_filter=error_filter,
    )  # fmt: skip
    source = _source(ctx, path, start_at="beginning", read_chunk=256, max_line_bytes=200)
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run, log_sink.emit)
        await log_sink.wait_for(3)
        await anyio.sleep(0.7)
        tg.cancel_scope.cancel()
    kinds = [(e.kind, e.message) for e in log_sink.accepted]
    assert kinds == [
        ("log", "2026-01-01 ERROR about to fail"),
        ("exception", "RuntimeError: ERROR inside the exception message"),
        ("log", "2026-01-01 ERROR after the traceback"),
    ]
    exc = log_sink.accepted[1]
    assert [f["function"] for f in exc.attributes["frames"]] == [
        "<module>",
        "level1",
        "level2",
        "level3",
    ]
    assert len(exc.attributes["traceback"]) > 256
    raw = path.read_bytes()
    assert raw[exc.attributes["offset"] :].startswith(b"Traceback (most recent call last):")


async def test_traceback_at_end_of_file_is_emitted_after_a_quiet_moment(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """Without a filter every line is an event; a final traceback is flushed once quiet."""
    path = tmp_path / "app.log"
    path.touch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(log_ctx, path).run, log_sink.emit)
        await anyio.sleep(0.2)
        with path.open("a") as log:
            log.write("WARNING about to import\n")
            log.flush()
            await anyio.run_process(
                [sys.executable, "-c", "import faiss_missing_for_grace"], stderr=log, check=False
            )
        await log_sink.wait_for(2)
        tg.cancel_scope.cancel()
    first, exc = log_sink.accepted
    assert (first.kind, first.severity) == ("log", "warning")
    assert exc.kind == "exception"
    assert exc.message == "ModuleNotFoundError: No module named 'faiss_missing_for_grace'"
    assert exc.attributes["exception_type"] == "ModuleNotFoundError"


async def test_json_lines_and_a_cut_line(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """JSON lines are parsed into fields; an over-long line is cut once, then reading goes on."""
    path = tmp_path / "app.log"
    path.write_text(
        '{"msg": "database is locked", "level": "error", "request_id": "r1"}\n'
        + "ERROR "
        + "x" * 5000
        + "\nINFO after the long line\n"
    )
    source = _source(log_ctx, path, start_at="beginning", read_chunk=1024, max_line_bytes=512)
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run, log_sink.emit)
        await log_sink.wait_for(3)
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    parsed, cut, after = log_sink.accepted
    assert (parsed.message, parsed.severity) == ("database is locked", "error")
    assert parsed.attributes["request_id"] == "r1"
    assert cut.attributes["line_cut"] is True
    assert len(cut.message) == 512
    assert after.message == "INFO after the long line"
    assert len(log_sink.emitted) == 3


async def test_fast_path_through_the_real_matcher_with_crlf(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """``grace.matching.Matcher.scan`` as the filter (as the daemon wires it), CRLF lines."""
    matching = pytest.importorskip("grace.matching")
    triggers = [
        matching.Trigger(
            playbook="locked", index=0, type="log_message", pattern="database is locked",
            severity=None, service=None,
        ),
        matching.Trigger(
            playbook="__traceback__", index=0, type="log_message",
            pattern=r"^Traceback \(most recent call last\):", severity=None, service=None,
        ),
    ]  # fmt: skip
    matcher = matching.Matcher(triggers)
    path = tmp_path / "app.log"
    lines = [
        "INFO start",
        "ERROR database is locked",
        "Traceback (most recent call last):",
        '  File "/srv/app/store.py", line 3, in <module>',
        "    import faiss",
        "ModuleNotFoundError: No module named 'faiss'",
        "INFO noise",
        "WARN database is locked again",
    ]
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    ctx = SourceContext(
        clock=log_ctx.clock, ids=log_ctx.ids, state=log_ctx.state, data_dir=log_ctx.data_dir,
        line_filter=matcher.scan,
    )  # fmt: skip
    async with anyio.create_task_group() as tg:
        tg.start_soon(_source(ctx, path, start_at="beginning").run, log_sink.emit)
        await log_sink.wait_for(3)
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert [(e.kind, e.message) for e in log_sink.accepted] == [
        ("log", "ERROR database is locked"),
        ("exception", "ModuleNotFoundError: No module named 'faiss'"),
        ("log", "WARN database is locked again"),
    ]
    assert log_sink.accepted[1].attributes["frames"] == [
        {"file": "/srv/app/store.py", "line": 3, "function": "<module>"}
    ]
