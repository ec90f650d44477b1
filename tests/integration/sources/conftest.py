"""Fixtures for the ``log`` source's integration tests: a real store, real writer processes.

Every fixture here is named ``log_*`` so that it cannot collide with the other sources' tests
in this folder.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from grace.events import Event
from grace.sources import SourceContext
from grace.store import Store, open_store
from grace.types import RandomIds, SystemClock

LOG_WRITER = r"""
import json, logging, logging.handlers, sys, time
cfg = json.loads(sys.argv[1])
path, count, rate = cfg["path"], cfg["count"], cfg["rate"]
kind, first, every = cfg.get("handler", "watched"), cfg.get("first", 0), cfg.get("match_every", 0)

def text(i):
    if every and i % every == 0:
        return "2026-01-01 12:00:00 ERROR match %06d database is locked" % i
    return "2026-01-01 12:00:00 INFO line %06d lorem ipsum dolor sit amet" % i

start = time.monotonic()
if kind == "raw":  # batches of lines per write (fast enough for 10,000 lines/s)
    batch = cfg.get("batch", 100)
    with open(path, "a", encoding="utf-8") as f:
        for b in range(first, first + count, batch):
            delay = start + (b - first) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            f.write("".join(text(i) + "\n" for i in range(b, min(b + batch, first + count))))
            f.flush()
else:
    if kind == "rotating":
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=cfg["max_bytes"], backupCount=cfg.get("backups", 100))
    elif kind == "watched":
        handler = logging.handlers.WatchedFileHandler(path)
    else:
        handler = logging.FileHandler(path)  # mode "a": O_APPEND, as copytruncate needs
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("writer")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    for i in range(first, first + count):
        delay = start + (i - first) / rate - time.monotonic()
        if delay > 0.001:
            time.sleep(delay)
        log.info(text(i))
print("done", flush=True)
"""
"""A writer process: ``count`` numbered lines at ``rate`` lines/s, through ``logging``."""

LOG_SOURCE_CHILD = r"""
import json, sys
from pathlib import Path
import anyio, anyio.to_thread
from grace.sources import SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig
from grace.store import open_store
from grace.types import RandomIds, SystemClock
cfg = json.loads(sys.argv[1])
store = open_store(cfg["url"])
keys = open(cfg["keys"], "a", buffering=1)

async def emit(event, key):
    await anyio.to_thread.run_sync(lambda: store.insert_event(event, event_key=key))
    keys.write(json.dumps([key, event.message]) + "\n")

ctx = SourceContext(clock=SystemClock(), ids=RandomIds(), state=store, data_dir=Path(cfg["data"]))
print("started", flush=True)
anyio.run(LogSource(LogSourceConfig.model_validate(cfg["source"]), ctx).run, emit)
"""
"""A log source in its own process (to be killed with SIGKILL), recording into the store."""


def log_line_text(i: int, *, every: int = 0) -> str:
    """The text the writer writes as line ``i``."""
    if every and i % every == 0:
        return f"2026-01-01 12:00:00 ERROR match {i:06d} database is locked"
    return f"2026-01-01 12:00:00 INFO line {i:06d} lorem ipsum dolor sit amet"


@dataclass
class LogSink:
    """The ``emit`` of a test: inserts each event into the store, like the pipeline does."""

    store: Store
    emitted: list[tuple[str, Event]] = field(default_factory=list)
    """Every ``(event_key, event)`` emitted, duplicates included, in order."""
    accepted: list[Event] = field(default_factory=list)
    """The events the store took as new."""
    paused: bool = False
    """While True, ``emit`` waits: the pipeline is "full" and the source is held up."""
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def pause(self) -> None:
        """Hold every ``emit`` until :meth:`resume`."""
        self.paused = True

    def resume(self) -> None:
        """Let ``emit`` go on."""
        self.paused = False
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def emit(self, event: Event, event_key: str | None) -> None:
        """Record durably, then return (as the pipeline's emit does)."""
        assert event_key is not None
        while self.paused:
            await self._changed.wait()
        new = await anyio.to_thread.run_sync(
            lambda: self.store.insert_event(event, event_key=event_key)
        )
        self.emitted.append((event_key, event))
        if new:
            self.accepted.append(event)
        self._notify()

    @property
    def messages(self) -> list[str]:
        """Messages of the accepted events, in order."""
        return [e.message for e in self.accepted]

    async def wait_for(self, count: int, *, limit_s: float = 20.0) -> None:
        """Wait until ``count`` events were accepted (the test fails after ``limit_s``)."""
        with anyio.move_on_after(limit_s):
            while len(self.accepted) < count:
                await self._changed.wait()
            return
        got = sorted(int(m.split()[4]) for m in self.messages if m[:4] == "2026" and " line " in m)
        gaps = [(a, b) for a, b in itertools.pairwise(got) if b != a + 1]
        pytest.fail(
            f"{len(self.accepted)} of {count} events after {limit_s}s "
            f"({len(self.emitted)} emitted); gaps in numbered lines: {gaps[:5]}"
        )


@pytest.fixture
def log_store(database_url: str) -> Iterator[Store]:
    """A fresh store (SQLite, and PostgreSQL when configured) for the log source's rows."""
    store = open_store(database_url)
    yield store
    store.engine.dispose()


class LogRecorder:
    """A logger that keeps ``(level, event_type, message)`` of every call."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def log(message: str, **fields: Any) -> None:
            self.records.append((level, str(fields.get("event_type", "")), message))

        return log

    def of(self, event_type: str) -> list[str]:
        """Messages logged with ``event_type``."""
        return [m for _, t, m in self.records if t == event_type]


@pytest.fixture
def log_logger() -> LogRecorder:
    """The logger in :func:`log_ctx`: what the source said about files."""
    return LogRecorder()


@pytest.fixture
def log_ctx(log_store: Store, log_logger: LogRecorder, tmp_path: Path) -> SourceContext:
    """A source context on the real clock, with the store as state."""
    return SourceContext(
        clock=SystemClock(),
        ids=RandomIds(),
        state=log_store,
        data_dir=tmp_path / "data",
        logger=log_logger,
    )


@pytest.fixture
def log_sink(log_store: Store) -> LogSink:
    """An ``emit`` that inserts into the store and records what it saw."""
    return LogSink(log_store)


@pytest.fixture
def log_writer() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start writer processes (see :data:`LOG_WRITER`); they are killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(path: Path, count: int, rate: float, **options: Any) -> subprocess.Popen[str]:
        cfg = {"path": str(path), "count": count, "rate": rate, **options}
        proc = subprocess.Popen(
            [sys.executable, "-c", LOG_WRITER, json.dumps(cfg)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def log_source_process(
    database_url: str, tmp_path: Path
) -> Iterator[Callable[[dict[str, Any]], subprocess.Popen[str]]]:
    """Start a log source in a child process (see :data:`LOG_SOURCE_CHILD`)."""
    started: list[subprocess.Popen[str]] = []

    def start(source: dict[str, Any]) -> subprocess.Popen[str]:
        cfg = {
            "url": database_url,
            "keys": str(tmp_path / "emitted.jsonl"),
            "data": str(tmp_path / "data"),
            "source": source,
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", LOG_SOURCE_CHILD, json.dumps(cfg)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
