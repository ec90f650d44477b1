"""``notify``: tell humans something happened, in the log and optionally on a webhook.

The webhook receives ``{"title", "message", "level", "run_id", "service"}`` as JSON, which
Slack-, Mattermost- and Teams-style relays and Alertmanager receivers can route. Plans and
summaries show only the webhook's host, because the path of a chat webhook is its secret.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, HttpUrl, display_url
from grace.actions.builtin.log import emit

__all__ = ("NotifyParams", "send_notification")

WEBHOOK_TIMEOUT_S = 10.0
"""How long the webhook may take to answer."""

Level = Literal["info", "warning", "error", "critical"]


class NotifyParams(BuiltinParams):
    """Parameters of ``notify``."""

    message: str = Field(min_length=1, max_length=4000)
    """What happened (1 to 4,000 characters)."""
    level: Level = "warning"
    """info, warning, error or critical; also the log level."""
    webhook_url: HttpUrl | None = None
    """Where to POST the notification as JSON; without it, the notification is only logged."""
    title: str = Field(default="", max_length=500)
    """A short headline (up to 500 characters)."""


def _describe(p: NotifyParams) -> str:
    head = f"{p.title}: {p.message}" if p.title else p.message
    if len(head) > 120:
        head = head[:119] + "…"
    article = "an" if p.level[0] in "aeiou" else "a"
    text = f"would log {article} {p.level} notification {head!r}"
    if p.webhook_url is not None:
        text += f" and POST it to {display_url(p.webhook_url, path=False)}"
    return text


@action(
    "notify",
    params=NotifyParams,
    risk="low",
    idempotent=False,
    outputs=("delivered",),
    describe=_describe,
)
async def send_notification(ctx: ActionContext, params: NotifyParams) -> ActionResult:
    """Log a notification and, when ``webhook_url`` is given, POST it there as JSON."""
    emit(ctx.logger, params.level, params.message, title=params.title, notification=True)
    if params.webhook_url is None:
        return ActionResult(
            ok=True,
            summary=f"logged {params.level}: {params.message[:200]}",
            outputs={"delivered": False},
        )
    import httpx  # here, not at the top: only a webhook needs it

    where = display_url(params.webhook_url, path=False)
    payload = {
        "title": params.title,
        "message": params.message,
        "level": params.level,
        "run_id": ctx.run_id,
        "service": ctx.service,
    }
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False) as client:
            response = await client.post(params.webhook_url, json=payload)
    except httpx.HTTPError as exc:
        summary = f"webhook {where} failed: {type(exc).__name__}: {exc}"
        return ActionResult(ok=False, summary=summary, outputs={"delivered": False})
    if not response.is_success:
        summary = f"webhook {where} answered {response.status_code}"
        return ActionResult(ok=False, summary=summary, outputs={"delivered": False})
    return ActionResult(
        ok=True, summary=f"notified {where} ({params.level})", outputs={"delivered": True}
    )
