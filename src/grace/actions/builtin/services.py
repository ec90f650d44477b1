"""``service.start``, ``service.stop``, ``service.restart``: a supervised service from a playbook.

They ask the supervisor of the running ``grace serve`` (through the store, like ``grace
services``) and wait until the service reached the wanted state: ``restart`` is done when the
service runs under a new pid. Without a ``grace serve`` whose supervisor beats, the step fails
(retryably) and says so: a playbook never starts a second, unsupervised copy. docs/supervisor.md.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, Seconds
from grace.errors import ActionError, GraceError

__all__ = ("ServiceParams", "restart_service", "start_service", "stop_service")

Verb = Literal["start", "stop", "restart"]


class ServiceParams(BuiltinParams):
    """Parameters of ``service.start``, ``service.stop`` and ``service.restart``."""

    service: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9_.@-]*$")
    """The supervised service (a name under ``services:``); empty means the run's service."""
    timeout_s: Seconds = Field(default=30.0, gt=0, le=3600)
    """How long to wait for the supervisor to carry the request out."""
    reason: str = Field(default="", max_length=500)
    """Why, for the audit log (default: the run and step)."""
    database_url: str | None = None
    """The store ``grace serve`` runs on; default the engine's own store."""


def _describe(verb: Verb) -> Any:
    def describe(p: ServiceParams) -> str:
        target = p.service or "the run's service"
        return (
            f"would ask grace serve's supervisor to {verb} {target} and wait up to {p.timeout_s:g}s"
        )

    return describe


async def _control(ctx: ActionContext, params: ServiceParams, verb: Verb) -> ActionResult:
    from grace.store import open_store
    from grace.supervisor import daemon_listening, request_and_wait

    name = params.service or ctx.service
    if not name:
        msg = (
            f"service.{verb} needs a service: this run has none; set 'service:' in the step's with:"
        )
        raise ActionError(msg, retryable=False, type="NoService")
    try:
        store = await anyio.to_thread.run_sync(
            lambda: open_store(ctx.store_url(params.database_url), clock=ctx.clock)
        )
    except GraceError as exc:
        msg = f"service.{verb} cannot open Grace's store: {exc}"
        raise ActionError(msg, retryable=True, type="StoreUnavailable") from exc
    try:
        if await anyio.to_thread.run_sync(lambda: daemon_listening(store)) is None:
            msg = (
                f"no grace serve supervisor is running (its heartbeat is missing or stale), so "
                f"nothing can {verb} {name!r}; start 'grace serve' with {name!r} under 'services:'"
            )
            raise ActionError(msg, retryable=True, type="NoSupervisor")
        [outcome] = await request_and_wait(
            store,
            ctx.data_dir,
            verb,
            [name],
            by=f"run:{ctx.run_id}",
            reason=params.reason or f"run {ctx.run_id} step {ctx.step}",
            timeout_s=params.timeout_s,
        )
    finally:
        await anyio.to_thread.run_sync(store.close)
    after = outcome.after
    if after is None:
        msg = (
            f"{name!r} has no state file under {ctx.data_dir / 'services'}: is it a service "
            "of this grace serve (check 'grace services list')?"
        )
        raise ActionError(msg, retryable=False, type="UnknownService")
    outputs = {
        "service": name,
        "status": after.status,
        "pid": after.pid,
        "previous_pid": outcome.before.pid if outcome.before else None,
    }
    if after.status == "fatal":
        msg = f"{name!r} is fatal after {verb}: {after.reason or after.last_exit or 'start limit hit'}"
        raise ActionError(msg, retryable=False, type="ServiceFatal")
    if not outcome.done:
        msg = (
            f"grace serve did not finish '{verb}' of {name!r} within {params.timeout_s:g}s "
            f"(status {after.status})"
        )
        raise ActionError(msg, retryable=True, type="ServiceTimeout")
    pid = f" (pid {after.pid})" if after.pid else ""
    return ActionResult(ok=True, summary=f"{verb} {name}: {after.status}{pid}", outputs=outputs)


_OUTPUTS = ("service", "status", "pid", "previous_pid")


@action(
    "service.start",
    params=ServiceParams,
    risk="medium",
    idempotent=True,
    outputs=_OUTPUTS,
    describe=_describe("start"),
)
async def start_service(ctx: ActionContext, params: ServiceParams) -> ActionResult:
    """Start a supervised service (clears its start-limit count) and wait until it runs."""
    return await _control(ctx, params, "start")


@action(
    "service.stop",
    params=ServiceParams,
    risk="high",
    idempotent=True,
    outputs=_OUTPUTS,
    describe=_describe("stop"),
)
async def stop_service(ctx: ActionContext, params: ServiceParams) -> ActionResult:
    """Stop a supervised service (it stays stopped until started) and wait until it stopped."""
    return await _control(ctx, params, "stop")


@action(
    "service.restart",
    params=ServiceParams,
    risk="medium",
    idempotent=False,
    outputs=_OUTPUTS,
    describe=_describe("restart"),
)
async def restart_service(ctx: ActionContext, params: ServiceParams) -> ActionResult:
    """Restart a supervised service and wait until it runs under a new pid."""
    return await _control(ctx, params, "restart")
