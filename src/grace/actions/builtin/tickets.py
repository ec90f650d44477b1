"""``ticket.open``: file a work order for a human, with the run's context attached."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams
from grace.errors import ActionError

__all__ = ("TicketParams", "open_ticket")


class TicketParams(BuiltinParams):
    """Parameters of ``ticket.open``."""

    title: str = Field(min_length=1, max_length=500)
    """What a human must do, in one line (1 to 500 characters)."""
    body: str = Field(default="", max_length=100_000)
    """Details, steps already tried, links."""
    severity: Literal["info", "warning", "error", "critical"] = "warning"
    """info, warning, error or critical."""
    service: str = Field(default="", max_length=200)
    """The service the ticket is about; empty means the run's service."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Anything a human needs to act: captures, step outputs, links."""


def _describe(p: TicketParams) -> str:
    service = p.service or "the run's service"
    return f"would open a {p.severity} ticket {p.title!r} for {service}"


@action(
    "ticket.open",
    params=TicketParams,
    risk="low",
    idempotent=False,
    outputs=("ticket_id",),
    describe=_describe,
)
async def open_ticket(ctx: ActionContext, params: TicketParams) -> ActionResult:
    """Open a ticket (work order) for a human, linked to this run."""
    if ctx.tickets is None:
        msg = "ticket.open needs a ticket desk, and this engine was started without one"
        raise ActionError(msg, retryable=False, type="NoTicketDesk")
    service = params.service or ctx.service
    ticket = ctx.tickets.open_ticket(
        title=params.title,
        body=params.body,
        severity=params.severity,
        service=service,
        run_id=ctx.run_id,
        context=dict(params.context),
    )
    return ActionResult(
        ok=True,
        summary=f"opened {params.severity} ticket {ticket.id}: {params.title[:200]}",
        outputs={"ticket_id": ticket.id},
    )
