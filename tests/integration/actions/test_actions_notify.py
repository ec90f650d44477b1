"""``notify`` against a real local webhook receiver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from grace.actions import ActionContext
from grace.actions.builtin.notify import NotifyParams, send_notification

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


async def test_without_webhook_it_only_logs(make_ctx: MakeCtx) -> None:
    """With no webhook the notification is logged at its level and not 'delivered'."""
    ctx = make_ctx(logger=structlog.get_logger())

    with capture_logs() as logs:
        result = await send_notification(ctx, NotifyParams(message="disk 91% full", title="disk"))

    assert result.ok
    assert result.outputs == {"delivered": False}
    assert logs == [
        {"event": "disk 91% full", "log_level": "warning", "title": "disk", "notification": True}
    ]


async def test_webhook_receives_the_json_payload(make_ctx: MakeCtx, http_server: Any) -> None:
    """The webhook gets title, message, level, run_id and service as JSON."""
    params = NotifyParams(
        message="api restarted",
        level="error",
        title="api",
        webhook_url=f"{http_server.base}/hook/t0ken",
    )

    result = await send_notification(make_ctx(), params)

    assert result.ok
    assert result.outputs == {"delivered": True}
    assert http_server.received == [
        {
            "path": "/hook/t0ken",
            "json": {
                "title": "api",
                "message": "api restarted",
                "level": "error",
                "run_id": "run_test",
                "service": "api",
            },
        }
    ]
    assert "t0ken" not in result.summary


async def test_webhook_error_status_fails_the_step(make_ctx: MakeCtx, http_server: Any) -> None:
    """A webhook answering 500 is a failed (retryable) step, not delivered."""
    params = NotifyParams(message="m", webhook_url=f"{http_server.base}/hook/fail")

    result = await send_notification(make_ctx(), params)

    assert not result.ok
    assert result.outputs == {"delivered": False}
    assert result.summary == f"webhook {http_server.base}/… answered 500"


async def test_unreachable_webhook_fails_the_step(make_ctx: MakeCtx, closed_port: int) -> None:
    """A webhook nobody listens on is a failed step (ok=False), never an exception."""
    params = NotifyParams(message="m", webhook_url=f"http://127.0.0.1:{closed_port}/hook")

    result = await send_notification(make_ctx(logger=None), params)

    assert not result.ok
    assert result.summary.startswith(
        f"webhook http://127.0.0.1:{closed_port}/… failed: ConnectError"
    )
