"""The ``http`` probe against a real local HTTP server (time is fake, requests are real)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from grace.events import Event
from grace.sources import SourceContext
from grace.sources.builtin.http_probe import HttpProbe, HttpProbeConfig
from grace.testing import FakeClock, SequentialIds

pytestmark = pytest.mark.anyio


class Done(Exception):
    """Raised by :class:`CheckLimitClock` to end a source's loop."""


class CheckLimitClock(FakeClock):
    """A fake clock that ends the loop after ``limit`` sleeps (one sleep per check)."""

    def __init__(self, limit: int, on_sleep: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        """Advance time, run the script for this tick, and stop after ``limit`` ticks."""
        await super().sleep(seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))
        if len(self.sleeps) >= self.limit:
            raise Done


class Script:
    """What the server answers, request by request (the last answer repeats)."""

    def __init__(self, answers: list[tuple[int, str]], delay_s: float = 0.0) -> None:
        self.answers = answers
        self.delay_s = delay_s
        self.hits = 0


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            """Answer with the script's next (status, body)."""
            status, body = script.answers[min(script.hits, len(script.answers) - 1)]
            script.hits += 1
            if script.delay_s:
                time.sleep(script.delay_s)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[Script], str]]:
    """Start a real HTTP server answering from a script; returns its /health URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/health"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class NoState:
    """Probes keep no rows; any use of state is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"probe used state.{name}")


async def _run(
    config: HttpProbeConfig, clock: FakeClock, tmp_path: Path
) -> list[tuple[Event, str | None]]:
    ctx = SourceContext(clock=clock, ids=SequentialIds(), state=NoState(), data_dir=tmp_path)
    emitted: list[tuple[Event, str | None]] = []

    async def emit(event: Event, key: str | None) -> None:
        emitted.append((event, key))

    with pytest.raises(Done):
        await HttpProbe(config, ctx).run(emit)
    return emitted


def _config(url: str, **fields: Any) -> HttpProbeConfig:
    return HttpProbeConfig.model_validate({"type": "http", "url": url, "service": "api", **fields})


async def test_three_failures_one_event_then_recovery(
    serve: Callable[[Script], str], tmp_path: Path
) -> None:
    """Five 503s then 200s: one error event at the third failure, one recovery event, no more."""
    url = serve(Script([(200, "ok")] + [(503, "down")] * 5 + [(200, "ok")]))
    emitted = await _run(_config(url), CheckLimitClock(10), tmp_path)

    assert [e.severity for e, _ in emitted] == ["error", "info"]
    down, up = emitted[0][0], emitted[1][0]
    assert down.kind == "health"
    assert down.service == "api"
    assert down.source == f"http:{url}"
    assert down.message == f"health check failed 3 times: GET {url} → 503"
    assert down.attributes["status"] == 503
    assert down.attributes["consecutive_failures"] == 3
    assert down.attributes["reason"] == "status"
    assert down.attributes["url"] == url
    assert down.attributes["recovered"] is False
    assert down.attributes["elapsed_ms"] >= 0
    assert up.message == f"health check recovered: GET {url} → 200 after 5 failures"
    assert up.attributes["recovered"] is True
    assert up.attributes["down_for_s"] == 50.0  # failing from t=10 s, healthy at t=60 s
    keys = [k for _, k in emitted]
    assert keys[0] is not None
    assert keys[0].startswith(f"http:{url}:down:")
    assert len(set(keys)) == 2


async def test_body_regex_failure_is_a_failure(
    serve: Callable[[Script], str], tmp_path: Path
) -> None:
    """A 200 whose body does not match ``body_regex`` fails, and the message says why."""
    url = serve(Script([(200, '{"status": "degraded"}')]))
    config = _config(url, body_regex='"status":\\s*"ok"', failures_before_event=2)
    emitted = await _run(config, CheckLimitClock(4), tmp_path)

    assert len(emitted) == 1
    event = emitted[0][0]
    assert event.attributes["reason"] == "body"
    assert event.message == (
        f'health check failed 2 times: GET {url} → 200, body does not match \'"status":\\\\s*"ok"\''
    )


async def test_body_regex_match_is_healthy(serve: Callable[[Script], str], tmp_path: Path) -> None:
    """A 200 whose body matches is healthy: no events at all."""
    url = serve(Script([(200, '{"status": "ok"}')]))
    config = _config(url, body_regex='"status":\\s*"ok"', failures_before_event=1)
    assert await _run(config, CheckLimitClock(3), tmp_path) == []


async def test_connection_refused(tmp_path: Path) -> None:
    """Nothing listening: the event says ``connection refused``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/health"
    emitted = await _run(_config(url, failures_before_event=2), CheckLimitClock(5), tmp_path)

    assert len(emitted) == 1
    assert emitted[0][0].message == f"health check failed 2 times: GET {url} → connection refused"
    assert emitted[0][0].attributes["reason"] == "refused"
    assert emitted[0][0].attributes["status"] is None


async def test_slow_answer_is_a_timeout(serve: Callable[[Script], str], tmp_path: Path) -> None:
    """An answer slower than ``timeout_s`` counts as a failure with reason ``timeout``."""
    url = serve(Script([(200, "ok")], delay_s=1.0))
    config = _config(url, timeout_s=0.2, failures_before_event=1)
    emitted = await _run(config, CheckLimitClock(1), tmp_path)

    assert len(emitted) == 1
    assert emitted[0][0].message == f"health check failed 1 times: GET {url} → timeout after 0.2s"
    assert emitted[0][0].attributes["reason"] == "timeout"


async def test_reminders_while_still_down(serve: Callable[[Script], str], tmp_path: Path) -> None:
    """``reminder_every: 2`` re-emits every two further failures; without it, one event only."""
    url = serve(Script([(500, "")]))
    quiet = await _run(_config(url), CheckLimitClock(8), tmp_path)
    loud = await _run(_config(url, reminder_every=2), CheckLimitClock(8), tmp_path)

    assert [e.attributes["consecutive_failures"] for e, _ in quiet] == [3]
    assert [e.attributes["consecutive_failures"] for e, _ in loud] == [3, 5, 7]


async def test_interval_is_the_sleep(serve: Callable[[Script], str], tmp_path: Path) -> None:
    """Checks are spaced ``interval_s`` apart on the injected clock."""
    url = serve(Script([(200, "ok")]))
    clock = CheckLimitClock(3)
    await _run(_config(url, interval_s=7), clock, tmp_path)
    assert clock.sleeps == [7.0, 7.0, 7.0]
