"""Tier 3, the emergency protocol (seed 003): both healer components are down.

The self-healing component is ``grace serve``'s runner (heartbeat ``grace.runner``); the
coding/repair component is its HTTP API, through which repair agents and the SDK report and
request repairs (``grace.api``). Both live in the ``grace serve`` process. When both are down
and tier 2 cannot help (the process lives but is hung, so it is never restarted as dead; or
its restart budget is spent), ``grace watchdog`` runs, each step audited:

1. delegate healing to itself (``watchdog.delegation_granted``);
2. force-restart both healers: stop the hung process (``watchdog.peer_stopped``), reset the
   restart limits (``watchdog.limits_reset``), start ``grace serve`` (``watchdog.peer_started``);
3. verify with retries that the new process's runner *and* API ping
   (``watchdog.emergency_verify`` per attempt, then ``watchdog.emergency_recovered`` or
   ``watchdog.emergency_failed`` plus a ticket);
4. revoke the delegation (``watchdog.delegation_revoked``), whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grace.logs import get_logger
from grace.watchdog._audit import audit
from grace.watchdog._beats import HEALER_ROWS
from grace.watchdog._delegation import grant_delegation, revoke_delegation

if TYPE_CHECKING:
    from grace.watchdog._peers import PeerKeeper, PeerState

__all__ = ("EmergencyOutcome", "run_emergency")

log = get_logger("watchdog")

SUBJECT = "healer:emergency"


@dataclass(frozen=True)
class EmergencyOutcome:
    """How one run of the protocol ended."""

    recovered: bool
    grant_id: str
    attempts: int
    pid: int | None
    detail: str


def run_emergency(
    keeper: PeerKeeper,
    state: PeerState,
    *,
    reason: str,
    sleep: Callable[[float], None] = time.sleep,
) -> EmergencyOutcome:
    """Run the protocol once for ``grace serve`` as seen in ``state`` (blocking)."""
    cfg = keeper.config.emergency
    store, data_dir = keeper.store, keeper.data_dir
    started = time.monotonic()
    grant = grant_delegation(
        data_dir,
        store,
        reason=reason,
        ttl_s=cfg.delegation_ttl_s,
        context={"seen": state.to_json()},
    )
    recovered, attempts, pid, detail = False, 0, None, ""
    try:
        # 2. force-restart both healers (one process hosts both).
        if state.record is not None and state.liveness != "dead":
            keeper.stop_hung(state, timeout_s=cfg.stop_timeout_s)
        keeper.budget.reset("serve")
        keeper.budget.reset("watchdog")
        audit(
            store,
            "watchdog.limits_reset",
            SUBJECT,
            {"roles": ["serve", "watchdog"], "grant_id": grant.grant_id},
        )
        pid = keeper.start(reason=f"emergency: {reason}")
        if pid is None and keeper.observe().liveness == "dead":
            detail = "grace serve could not be started (see watchdog.peer_start_failed)"
        # 3. verify with retries.
        for attempts in range(1, cfg.verify_attempts + 1):
            sleep(cfg.verify_interval_s)
            now = keeper.observe()
            fresh = {row: not now.stale(row, keeper.config.peer_timeout_s) for row in HEALER_ROWS}
            ok = now.liveness == "running" and all(fresh.values())
            audit(
                store,
                "watchdog.emergency_verify",
                SUBJECT,
                {"attempt": attempts, "ok": ok, "seen": now.to_json(), "grant_id": grant.grant_id},
            )
            if ok:
                recovered, pid = True, now.pid
                break
        elapsed = round(time.monotonic() - started, 3)
        if recovered:
            detail = f"grace serve (pid {pid}) is back: runner and API ping again"
            audit(
                store,
                "watchdog.emergency_recovered",
                SUBJECT,
                {
                    "pid": pid,
                    "attempts": attempts,
                    "elapsed_s": elapsed,
                    "grant_id": grant.grant_id,
                },
            )
        else:
            detail = detail or (
                f"the healers did not come back after {attempts} checks "
                f"({cfg.verify_interval_s:g}s apart)"
            )
            audit(
                store,
                "watchdog.emergency_failed",
                SUBJECT,
                {"detail": detail, "elapsed_s": elapsed, "grant_id": grant.grant_id},
            )
            _ticket(keeper, detail)
    finally:
        # 4. always revoke, even when a step above raised.
        revoke_delegation(
            data_dir,
            store,
            grant_id=grant.grant_id,
            outcome="recovered" if recovered else "failed",
        )
    return EmergencyOutcome(recovered, grant.grant_id, attempts, pid, detail)


def _ticket(keeper: PeerKeeper, detail: str) -> None:
    if keeper.store is None:
        return
    try:
        keeper.store.open_ticket(
            title="emergency healer recovery failed: grace serve is down",
            body=(
                f"{detail}. The watchdog delegated healing to itself, force-restarted grace "
                "serve with its limits reset and verified it, without success. Look at "
                f"{keeper.data_dir / 'watchdog' / 'serve.out'} and the log, then start it by hand."
            ),
            severity="critical",
            service="grace",
            run_id=None,
            context={"role": "serve"},
        )
    except Exception as exc:  # noqa: BLE001 - the ticket is best effort; the audit entry stands
        log.error(  # noqa: TRY400 - the message says it all
            f"could not open the ticket: {exc!r}", event_type="watchdog.ticket_failed"
        )
