"""Tier 3 with real processes: both healer components down → the emergency protocol.

Freezing ``grace serve`` (SIGSTOP) takes down both healer components it hosts, the runner
and the API, while its process stays alive: tier 2 never restarts a live process, so only
the emergency protocol can help. ``grace watchdog`` runs it end to end, and the audit log
(in the store) shows each step, from the delegation granted to the delegation revoked.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from watchdog_helpers import Pair, eventually, write_config

from grace.store import open_store

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


def test_sigkill_with_a_spent_restart_budget_runs_the_protocol(
    tmp_path: Path, database_url: str
) -> None:
    """Restart budget of one start: SIGKILL of ``grace serve`` (both healer components die
    with it) finds tier 2 spent (``watchdog.start_limit_hit``); the protocol resets the limits,
    starts a new one, verifies and revokes."""
    config = write_config(tmp_path, database_url, restart_limit={"burst": 1, "window_s": 300})
    pair = Pair(config, tmp_path / ".grace", open_store(database_url))
    try:
        pair.start("watchdog")
        serve = pair.healthy("serve")  # the watchdog's one start
        pair.healthy("watchdog")
        before = len(pair.store.audit_entries(limit=10_000))

        os.kill(serve, signal.SIGKILL)
        eventually(
            lambda: "watchdog.delegation_revoked" in pair.actions(),
            within=60,
            what="the emergency protocol to finish",
        )
        new_serve = pair.healthy("serve", other_than=serve)

        entries = [
            e for e in pair.store.audit_entries(limit=10_000)[before:] if e.actor == "watchdog"
        ]
        actions = [e.action for e in entries]
        steps = [a for i, a in enumerate(actions) if i == 0 or a != actions[i - 1]]
        assert steps == [
            "watchdog.start_limit_hit",
            "watchdog.delegation_granted",
            "watchdog.limits_reset",
            "watchdog.peer_started",
            "watchdog.emergency_verify",
            "watchdog.emergency_recovered",
            "watchdog.delegation_revoked",
        ], (actions, pair.output())
        granted = next(e for e in entries if e.action == "watchdog.delegation_granted")
        assert "restart budget is spent" in granted.payload["reason"]
        revoked = entries[-1]
        assert revoked.payload["grant_id"] == granted.payload["grant_id"]
        assert revoked.payload["outcome"] == "recovered"
        assert pair.running("serve") == new_serve
    finally:
        pair.kill_all()
        pair.store.close()
