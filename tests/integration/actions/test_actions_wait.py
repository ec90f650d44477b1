"""``wait.until`` against real sockets, a real HTTP server and real files."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.actions import ActionContext
from grace.actions.builtin.wait import WaitParams, wait_until

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A local TCP port with a listening socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_tcp_port_that_listens_is_ready_at_once(
    make_ctx: MakeCtx, listening_port: int
) -> None:
    """A listening port satisfies the wait on the first probe."""
    result = await wait_until(make_ctx(), WaitParams(tcp=f"127.0.0.1:{listening_port}"))

    assert result.ok
    assert result.outputs["probes"] == 1
    assert result.changed is False


async def test_closed_port_times_out(make_ctx: MakeCtx, closed_port: int) -> None:
    """A refused port keeps failing until timeout_s, then the step fails with the last error."""
    params = WaitParams(tcp=f"127.0.0.1:{closed_port}", interval_s=0.05, timeout_s=0.3)

    result = await wait_until(make_ctx(), params)

    assert not result.ok
    assert result.outputs["waited_s"] >= 0.3
    assert result.outputs["probes"] > 2
    assert "accepts TCP connections; last: " in result.summary


async def test_http_waits_until_the_service_answers_2xx(
    make_ctx: MakeCtx, http_server: Any
) -> None:
    """503 twice, then 200: the wait succeeds on the third probe."""
    params = WaitParams(http=f"{http_server.base}/ready-after-3", interval_s=0.05, timeout_s=5)

    result = await wait_until(make_ctx(), params)

    assert result.ok
    assert result.outputs["probes"] == 3


async def test_http_expect_status(make_ctx: MakeCtx, http_server: Any) -> None:
    """expect_status waits for that exact status instead of any 2xx."""
    params = WaitParams(http=f"{http_server.base}/status/418", expect_status=418)

    result = await wait_until(make_ctx(), params)

    assert result.ok


def _create_later(path: Path) -> None:
    path.write_text("ready")


async def test_file_appears(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Waiting for a file ends once another task creates it."""
    target = tmp_path / "ready.flag"
    params = WaitParams(file=str(target), interval_s=0.05, timeout_s=5)

    async with anyio.create_task_group() as tg:

        async def create() -> None:
            await anyio.sleep(0.2)
            _create_later(target)

        tg.start_soon(create)
        result = await wait_until(make_ctx(), params)

    assert result.ok
    assert result.outputs["probes"] > 1


async def test_file_absent_is_ready_when_missing(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A path that does not exist satisfies file_absent immediately."""
    params = WaitParams(file_absent=str(tmp_path / "app.lock"))

    result = await wait_until(make_ctx(), params)

    assert result.ok
    assert result.summary.endswith("app.lock is gone after 0.0s (1 check)")
