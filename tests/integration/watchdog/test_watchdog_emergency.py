"""Tier 3 with real processes: both healer components down → the emergency protocol.

Freezing ``grace serve`` (SIGSTOP) takes down both healer components it hosts, the runner
and the API, while its process stays alive: tier 2 never restarts a live process, so only
the emergency protocol can help. ``grace watchdog`` runs it end to end, and the audit log
(in the store) shows each step, from the delegation granted to the delegation revoked.
"""

from __future__ import annotations

import os
import signal

import pytest
from watchdog_helpers import Pair, eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROTOCOL = [
    "watchdog.delegation_granted",
    "watchdog.peer_stopped",
    "watchdog.limits_reset",
    "watchdog.peer_started",
    "watchdog.emergency_verify",
    "watchdog.emergency_recovered",
    "watchdog.delegation_revoked",
]


def test_both_healer_components_down_runs_the_emergency_protocol(pair: Pair) -> None:
    """SIGSTOP of ``grace serve`` → delegation granted, hung process stopped, limits reset,
    new ``grace serve`` started and verified (runner and API ping), delegation revoked."""
    pair.start("watchdog")
    frozen = pair.healthy("serve")
    watchdog = pair.healthy("watchdog")
    before = len(pair.store.audit_entries(limit=10_000))

    os.kill(frozen, signal.SIGSTOP)
    eventually(
        lambda: "watchdog.delegation_revoked" in pair.actions(),
        within=90,
        what="the emergency protocol to finish",
    )
    new_serve = pair.healthy("serve", other_than=frozen)

    entries = [e for e in pair.store.audit_entries(limit=10_000)[before:] if e.actor == "watchdog"]
    actions = [e.action for e in entries]
    # Each protocol step once, in order (verification may take more than one attempt).
    steps = [a for i, a in enumerate(actions) if i == 0 or a != actions[i - 1]]
    assert steps == PROTOCOL, (actions, pair.output())
    granted = next(e for e in entries if e.action == "watchdog.delegation_granted")
    revoked = next(e for e in entries if e.action == "watchdog.delegation_revoked")
    assert revoked.payload["grant_id"] == granted.payload["grant_id"]
    assert revoked.payload["outcome"] == "recovered"
    assert revoked.payload["was_in_force"] is True
    assert granted.payload["seen"]["liveness"] == "stopped"
    stopped = next(e for e in entries if e.action == "watchdog.peer_stopped")
    assert stopped.payload["pid"] == frozen
    recovered = next(e for e in entries if e.action == "watchdog.emergency_recovered")
    assert recovered.payload["pid"] == new_serve
    assert recovered.payload["elapsed_s"] < 120  # the protocol's SLO
    # The frozen process is gone (no second copy), the watchdog kept running.
    assert not _alive(frozen)
    assert pair.running("watchdog") == watchdog
    assert not (pair.data_dir / "watchdog" / "delegation.json").exists()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
