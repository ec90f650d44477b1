"""``sleep``: pause the run, on the injected clock (a fake clock skips the wait)."""

from __future__ import annotations

from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, Seconds

__all__ = ("SleepParams", "sleep_for")


class SleepParams(BuiltinParams):
    """Parameters of ``sleep``."""

    seconds: Seconds = Field(ge=0, le=3600)
    """How long to pause, 0 to 3600 seconds."""


@action(
    "sleep",
    params=SleepParams,
    risk="low",
    idempotent=True,
    describe=lambda p: f"would sleep {p.seconds:g}s",
)
async def sleep_for(ctx: ActionContext, params: SleepParams) -> ActionResult:
    """Pause for a number of seconds (to let a restarted service settle, for example)."""
    await ctx.clock.sleep(params.seconds)
    return ActionResult(ok=True, summary=f"slept {params.seconds:g}s", changed=False)
