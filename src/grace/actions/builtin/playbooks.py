"""``playbook.run``: start another playbook as a child run of this one."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams
from grace.errors import ActionError

__all__ = ("PlaybookRunParams", "run_playbook")


class PlaybookRunParams(BuiltinParams):
    """Parameters of ``playbook.run``."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=200)
    """The playbook to start (its ``name:``)."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Values the child sees as ``vars.<key>``."""
    wait: bool = True
    """Wait for the child to finish (and fail this step unless it succeeded)."""


def _describe(p: PlaybookRunParams) -> str:
    text = f"would run playbook {p.name!r}"
    if p.vars:
        text += f" with vars {', '.join(sorted(p.vars))}"
    return text + (" and wait for it to finish" if p.wait else " without waiting")


@action(
    "playbook.run",
    params=PlaybookRunParams,
    risk="medium",
    idempotent=False,
    outputs=("run_id", "status"),
    describe=_describe,
)
async def run_playbook(ctx: ActionContext, params: PlaybookRunParams) -> ActionResult:
    """Start another playbook as a child run, and by default wait for its outcome."""
    if ctx.launcher is None:
        msg = "playbook.run needs a playbook launcher, and this engine was started without one"
        raise ActionError(msg, retryable=False, type="NoLauncher")
    run_id, status = await ctx.launcher.run_playbook(
        params.name, vars=dict(params.vars), parent_run_id=ctx.run_id, wait=params.wait
    )
    outputs = {"run_id": run_id, "status": status}
    if params.wait and status != "succeeded":
        summary = f"child run {run_id} of {params.name!r} ended {status}"
        return ActionResult(ok=False, summary=summary, outputs=outputs)
    verb = "finished" if params.wait else "started"
    return ActionResult(
        ok=True, summary=f"{verb} child run {run_id} of {params.name!r} ({status})", outputs=outputs
    )
