"""``healer.*``: Grace's own healers from a playbook (docs/watchdog.md).

The healers are the two processes of the mutual watch, ``grace serve`` (its runner is the
self-healing component, its HTTP API the coding/repair component) and ``grace watchdog``.
These actions look at them (``healer.status``), stop a hung one (``healer.stop``), start a
dead one (``healer.restart``: never a second copy of a live process), reset their shared
restart budget (``healer.reset_limits``), and grant or revoke the emergency delegation of
healing to the standalone watchdog (``healer.delegate`` / ``healer.revoke``). Every change is
audited (``watchdog.*``) in the store at ``database_url``. They share their code with the
watchdog processes (:mod:`grace.watchdog`): a playbook and the automatic tiers do the same
thing the same way.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, Seconds
from grace.errors import ActionError, GraceError

if TYPE_CHECKING:
    from grace.store import Store
    from grace.watchdog import PeerKeeper, PeerState

__all__ = (
    "HealerDelegateParams",
    "HealerResetParams",
    "HealerRestartParams",
    "HealerRevokeParams",
    "HealerStatusParams",
    "HealerStopParams",
    "delegate_healing",
    "healer_status",
    "reset_healer_limits",
    "restart_healer",
    "revoke_healing",
    "stop_healer",
)

Target = Literal["serve", "watchdog"]
"""A healer process."""
_BOTH: tuple[Target, ...] = ("serve", "watchdog")
Healer = Literal["serve", "watchdog", "runner", "api"]
"""A healer process, or one of the two healer components of ``grace serve``."""


class _StoreParams(BuiltinParams):
    database_url: str | None = None
    """The store whose heartbeats and audit log are used; default the one Grace runs on."""
    stale_after_s: Seconds = Field(default=15.0, gt=0, le=3600)
    """A heartbeat row older than this counts as down (as ``watchdog.peer_timeout_s``)."""


class HealerStatusParams(_StoreParams):
    """Parameters of ``healer.status``."""

    require: list[Healer] = Field(default_factory=list, max_length=4)
    """Healers that must be up for the step to succeed (none: it only reports)."""
    wait_s: Seconds = Field(default=0.0, ge=0, le=600)
    """Keep looking this long for the required healers to come up before failing."""


class HealerStopParams(_StoreParams):
    """Parameters of ``healer.stop``."""

    target: Target
    """Which process to stop."""
    force: bool = False
    """Stop it even when it is healthy (default: only a hung or frozen one is stopped)."""
    timeout_s: Seconds = Field(default=5.0, gt=0, le=600)
    """SIGCONT and SIGTERM first; SIGKILL after this long."""


class HealerRestartParams(_StoreParams):
    """Parameters of ``healer.restart``."""

    target: Target
    """Which process to start when it is not running."""
    reset_limits: bool = False
    """Clear the target's restart budget first (the emergency protocol does)."""
    burst: int = Field(default=5, ge=1, le=10_000)
    """At most this many automatic starts of the target within ``window_s`` (as
    ``watchdog.restart_limit.burst``)."""
    window_s: Seconds = Field(default=300.0, gt=0, le=86400 * 7)
    """The start-limit window (as ``watchdog.restart_limit.window_s``)."""
    command: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    """argv that starts it; default as ``watchdog.serve_command`` / ``watchdog_command``."""
    wait_s: Seconds = Field(default=30.0, ge=0, le=600)
    """How long to wait for the started process to run and ping its heartbeat rows."""


class HealerDelegateParams(_StoreParams):
    """Parameters of ``healer.delegate``."""

    reason: str = Field(min_length=1, max_length=2000)
    """Why healing is delegated (goes to the audit log)."""
    ttl_s: Seconds = Field(default=120.0, gt=0, le=86400)
    """The grant expires after this long even if nobody revokes it."""


class HealerRevokeParams(_StoreParams):
    """Parameters of ``healer.revoke``."""

    grant_id: str | None = Field(default=None, max_length=100)
    """The grant to revoke (``steps.<delegate>.outputs.grant_id``); default whichever holds."""
    outcome: str = Field(default="done", max_length=200)
    """How the delegated work ended (goes to the audit log)."""


class HealerResetParams(_StoreParams):
    """Parameters of ``healer.reset_limits``."""

    targets: list[Target] = Field(default_factory=lambda: list(_BOTH), min_length=1)
    """Whose restart budget to clear."""


def _open(ctx: ActionContext, params: _StoreParams) -> Store:
    from grace.store import open_store

    try:
        return open_store(ctx.store_url(params.database_url), clock=ctx.clock)
    except GraceError as exc:
        msg = f"healer action cannot open the store for heartbeats and audit: {exc}"
        raise ActionError(msg, retryable=True, type="StoreUnavailable") from exc


def _keeper(
    ctx: ActionContext,
    store: Store,
    target: Target,
    params: _StoreParams,
    **limits: Any,
) -> PeerKeeper:
    from grace.supervisor import StartLimitConfig
    from grace.watchdog import PeerKeeper, WatchdogConfig

    fields: dict[str, Any] = {"peer_timeout_s": params.stale_after_s, "start_grace_s": 0.0}
    if limits:
        fields["restart_limit"] = StartLimitConfig(**limits)
    command = getattr(params, "command", None)
    if command:
        fields[f"{target}_command"] = command
    return PeerKeeper(
        target,
        data_dir=ctx.data_dir,
        store=store,
        config=WatchdogConfig(**fields),
        database_url=params.database_url or ctx.database_url or None,
        actor=f"run:{ctx.run_id}",
    )


def _health(serve: PeerState, watchdog: PeerState, stale_after_s: float) -> dict[str, bool]:
    up = serve.liveness == "running"
    return {
        "serve": up,
        "watchdog": watchdog.liveness == "running",
        "runner": up and not serve.stale("grace.runner", stale_after_s),
        "api": up and not serve.stale("grace.api", stale_after_s),
    }


def _look(ctx: ActionContext, params: _StoreParams) -> dict[str, Any]:
    from grace.watchdog import active_grant, observe

    store = _open(ctx, params)
    try:
        serve = observe(ctx.data_dir, store, "serve")
        watchdog = observe(ctx.data_dir, store, "watchdog")
    finally:
        store.close()
    health = _health(serve, watchdog, params.stale_after_s)
    grant = active_grant(ctx.data_dir)
    return {
        "serve": serve.to_json(),
        "watchdog": watchdog.to_json(),
        "down": [name for name, ok in health.items() if not ok],
        "both_down": not health["runner"] and not health["api"],
        "delegated": grant.grant_id if grant is not None else None,
    }


def _describe_status(p: HealerStatusParams) -> str:
    need = f", and require {', '.join(p.require)} up within {p.wait_s:g}s" if p.require else ""
    return f"would report grace serve (runner, API) and grace watchdog{need}"


@action(
    "healer.status",
    params=HealerStatusParams,
    risk="low",
    idempotent=True,
    outputs=("serve", "watchdog", "down", "both_down", "delegated"),
    describe=_describe_status,
)
async def healer_status(ctx: ActionContext, params: HealerStatusParams) -> ActionResult:
    """Report the healers: processes alive, runner and API pinging, delegation in force."""
    deadline = time.monotonic() + params.wait_s
    while True:
        seen = await anyio.to_thread.run_sync(lambda: _look(ctx, params))
        missing = [name for name in params.require if name in seen["down"]]
        if not missing or time.monotonic() >= deadline:
            break
        await anyio.sleep(min(0.5, params.wait_s))
    down = seen["down"]
    summary = f"healers down: {', '.join(down)}" if down else "every healer is up"
    if seen["both_down"]:
        summary += " (both healer components: runner and API)"
    if missing:
        summary = f"required healer(s) not up: {', '.join(missing)}; {summary}"
    return ActionResult(ok=not missing, summary=summary, outputs=seen, changed=False)


def _describe_stop(p: HealerStopParams) -> str:
    when = "" if p.force else " if it is hung or frozen"
    return f"would stop grace {p.target}{when} (SIGCONT, SIGTERM, SIGKILL after {p.timeout_s:g}s)"


@action(
    "healer.stop",
    params=HealerStopParams,
    risk="high",
    idempotent=True,
    outputs=("stopped", "pid", "how"),
    describe=_describe_stop,
)
async def stop_healer(ctx: ActionContext, params: HealerStopParams) -> ActionResult:
    """Stop a hung (or, with force, any) healer process; audited ``watchdog.peer_stopped``."""

    def stop() -> tuple[bool, int | None, str]:
        store = _open(ctx, params)
        try:
            keeper = _keeper(ctx, store, params.target, params)
            state = keeper.observe()
            if state.liveness == "dead":
                return False, None, "not running"
            assert state.record is not None
            if state.record.pid == os.getpid():
                msg = (
                    f"healer.stop would stop grace {params.target} (pid {state.record.pid}), "
                    "the process running this playbook; run it from grace watchdog or "
                    "'grace execute' instead"
                )
                raise ActionError(msg, retryable=False, type="WouldStopItself")
            if not params.force and state.liveness == "running" and not keeper.hung(state):
                return False, state.record.pid, "healthy: left running (force: true stops it)"
            return True, state.record.pid, keeper.stop_hung(state, timeout_s=params.timeout_s)
        finally:
            store.close()

    stopped, pid, how = await anyio.to_thread.run_sync(stop)
    summary = (
        f"grace {params.target} (pid {pid}): {how}" if pid else f"grace {params.target}: {how}"
    )
    return ActionResult(
        ok=True,
        summary=summary,
        outputs={"stopped": stopped, "pid": pid, "how": how},
        changed=stopped,
    )


def _describe_restart(p: HealerRestartParams) -> str:
    reset = " after resetting its restart limits" if p.reset_limits else ""
    return (
        f"would start grace {p.target} if it is not running{reset}, and wait up to "
        f"{p.wait_s:g}s for it to ping"
    )


@action(
    "healer.restart",
    params=HealerRestartParams,
    risk="medium",
    idempotent=True,
    outputs=("started", "pid", "argv"),
    describe=_describe_restart,
)
async def restart_healer(ctx: ActionContext, params: HealerRestartParams) -> ActionResult:
    """Start a healer process that is not running (never a second copy of a live one)."""
    from grace.watchdog import peer_command, rows_of

    store = await anyio.to_thread.run_sync(lambda: _open(ctx, params))
    try:
        keeper = _keeper(
            ctx, store, params.target, params, burst=params.burst, window_s=params.window_s
        )
        state = await anyio.to_thread.run_sync(keeper.observe)
        if state.liveness == "stopped":
            msg = (
                f"grace {params.target} (pid {state.pid}) is alive but frozen: stop it first "
                "(healer.stop), a second copy is never started"
            )
            raise ActionError(msg, retryable=False, type="FrozenHealer")
        if state.liveness == "running":
            return ActionResult(
                ok=True,
                summary=f"grace {params.target} already runs (pid {state.pid}): nothing started",
                outputs={"started": False, "pid": state.pid, "argv": None},
                changed=False,
            )
        if params.reset_limits:
            await anyio.to_thread.run_sync(lambda: _reset(ctx, store, [params.target]))
        budget = await anyio.to_thread.run_sync(keeper.budget.read, params.target)
        if not budget.may_start:
            msg = (
                f"grace {params.target} was started {budget.starts} times in the last "
                f"{params.window_s:g}s (limit {params.burst}): not starting it again; "
                "run emergency_healer_recovery or pass reset_limits: true"
            )
            raise ActionError(msg, retryable=False, type="StartLimitHit")
        argv, _ = peer_command(
            params.target, ctx.data_dir, configured=params.command, config_file=None
        )
        pid = await anyio.to_thread.run_sync(
            lambda: keeper.start(reason=f"healer.restart in run {ctx.run_id}")
        )
        if pid is None:
            msg = f"grace {params.target} could not be started with {argv} (see the audit log)"
            raise ActionError(msg, retryable=True, type="StartFailed")
        deadline = time.monotonic() + params.wait_s
        while time.monotonic() < deadline:
            now = await anyio.to_thread.run_sync(keeper.observe)
            pinging = all(
                not now.stale(row, params.stale_after_s) for row in rows_of(params.target)
            )
            if now.liveness == "running" and now.pid is not None and pinging:
                pid = now.pid
                break
            if (
                keeper.child is not None
                and keeper.child.poll() is not None
                and now.liveness == "dead"
            ):
                msg = (
                    f"grace {params.target} exited at once (code {keeper.child.returncode}); "
                    f"see {ctx.data_dir / 'watchdog' / (params.target + '.out')}"
                )
                raise ActionError(msg, retryable=True, type="StartFailed")
            await anyio.sleep(0.2)
        else:
            if params.wait_s:
                msg = (
                    f"grace {params.target} (pid {pid}) did not come up and ping within "
                    f"{params.wait_s:g}s"
                )
                raise ActionError(msg, retryable=True, type="NotUp", outputs={"pid": pid})
    finally:
        store.close()
    return ActionResult(
        ok=True,
        summary=f"started grace {params.target} (pid {pid})",
        outputs={"started": True, "pid": pid, "argv": argv},
    )


def _reset(ctx: ActionContext, store: Store, targets: list[Target]) -> None:
    from grace.watchdog import StartBudget, WatchdogConfig
    from grace.watchdog._audit import audit

    cfg = WatchdogConfig()
    budget = StartBudget(ctx.data_dir, cfg.restart_limit, cfg.backoff, stable_after_s=1.0)
    for target in targets:
        budget.reset(target)
    audit(
        store,
        "watchdog.limits_reset",
        "healer:emergency",
        {"roles": list(targets), "run_id": ctx.run_id},
        actor=f"run:{ctx.run_id}",
    )


@action(
    "healer.reset_limits",
    params=HealerResetParams,
    risk="medium",
    idempotent=True,
    outputs=("reset",),
    describe=lambda p: f"would clear the restart budget of {', '.join(p.targets)}",
)
async def reset_healer_limits(ctx: ActionContext, params: HealerResetParams) -> ActionResult:
    """Clear the healers' shared restart budget (audited ``watchdog.limits_reset``)."""

    def reset() -> None:
        store = _open(ctx, params)
        try:
            _reset(ctx, store, list(params.targets))
        finally:
            store.close()

    await anyio.to_thread.run_sync(reset)
    return ActionResult(
        ok=True,
        summary=f"restart limits reset for {', '.join(params.targets)}",
        outputs={"reset": list(params.targets)},
    )


@action(
    "healer.delegate",
    params=HealerDelegateParams,
    risk="medium",
    idempotent=False,
    outputs=("grant_id", "expires_at"),
    describe=lambda p: f"would delegate healing to grace watchdog for {p.ttl_s:g}s: {p.reason}",
)
async def delegate_healing(ctx: ActionContext, params: HealerDelegateParams) -> ActionResult:
    """Delegate healing to the standalone watchdog (audited ``watchdog.delegation_granted``)."""
    from grace.watchdog import grant_delegation

    def grant() -> Any:
        store = _open(ctx, params)
        try:
            return grant_delegation(
                ctx.data_dir,
                store,
                reason=params.reason,
                ttl_s=params.ttl_s,
                by=f"run:{ctx.run_id}",
                context={"run_id": ctx.run_id},
            )
        finally:
            store.close()

    granted = await anyio.to_thread.run_sync(grant)
    return ActionResult(
        ok=True,
        summary=f"healing delegated to grace watchdog ({granted.grant_id}, {params.ttl_s:g}s)",
        outputs={"grant_id": granted.grant_id, "expires_at": granted.expires_at},
    )


@action(
    "healer.revoke",
    params=HealerRevokeParams,
    risk="low",
    idempotent=True,
    outputs=("revoked", "grant_id"),
    describe=lambda p: f"would revoke the healing delegation {p.grant_id or '(whichever holds)'}",
)
async def revoke_healing(ctx: ActionContext, params: HealerRevokeParams) -> ActionResult:
    """End the delegation of healing (audited ``watchdog.delegation_revoked``)."""
    from grace.watchdog import revoke_delegation

    def revoke() -> bool:
        store = _open(ctx, params)
        try:
            return revoke_delegation(
                ctx.data_dir,
                store,
                grant_id=params.grant_id,
                outcome=params.outcome,
                by=f"run:{ctx.run_id}",
            )
        finally:
            store.close()

    held = await anyio.to_thread.run_sync(revoke)
    what = params.grant_id or "the delegation"
    summary = f"revoked {what}" if held else f"{what} was no longer in force (revocation recorded)"
    return ActionResult(
        ok=True,
        summary=summary,
        outputs={"revoked": held, "grant_id": params.grant_id},
        changed=held,
    )
