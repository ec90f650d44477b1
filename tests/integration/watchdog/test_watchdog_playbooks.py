"""The two bundled healer playbooks, run for real (``grace execute``) on real healer processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from watchdog_helpers import Pair, eventually, write_config

from grace.cli import main
from grace.store import open_store
from grace.watchdog import observe

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _pair(tmp_path: Path, database_url: str, **watchdog: object) -> Pair:
    config = write_config(tmp_path, database_url, bundled=True, **watchdog)
    return Pair(config, tmp_path / ".grace", open_store(database_url))


def _execute(pair: Pair, name: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["--config", str(pair.config), "execute", name, "--override-window", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out + pair.output()
    run = json.loads(out)
    assert isinstance(run, dict)
    return run


def test_healer_mutual_restart_brings_both_healers_back(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both healer processes SIGKILLed: the playbook's 5 steps start grace serve (and grace
    watchdog, unless the new serve already did), and require both up, within its 60 s SLO."""
    pair = _pair(tmp_path, database_url)
    try:
        pair.start("serve")
        old_serve, old_watchdog = pair.healthy("serve"), pair.healthy("watchdog")
        for pid in (old_serve, old_watchdog):
            os.kill(pid, signal.SIGSTOP)  # frozen first: neither restarts the other
        for pid in (old_serve, old_watchdog):
            os.kill(pid, signal.SIGKILL)
        eventually(lambda: pair.pid("serve") is None and pair.pid("watchdog") is None)

        run = _execute(pair, "healer_mutual_restart", capsys)

        assert run["status"] == "succeeded", run
        steps = {s["step"]: s for s in run["steps"]}  # type: ignore[attr-defined]
        assert list(steps) == ["assess", "restart_serve", "restart_watchdog", "verify", "report"]
        assert set(steps["assess"]["outputs"]["down"]) == {"serve", "watchdog", "runner", "api"}
        serve = pair.healthy("serve")
        assert serve not in (old_serve, old_watchdog)
        assert steps["restart_serve"]["outputs"] == {
            "started": True,
            "pid": serve,
            "argv": steps["restart_serve"]["outputs"]["argv"],
        }
        watchdog = pair.healthy("watchdog")
        assert watchdog != old_watchdog
        started = pair.store.audit_entries(action="watchdog.peer_started")
        by_run = [e for e in started if e.actor == f"run:{run['id']}"]
        assert [e.subject for e in by_run][:1] == ["healer:serve"]
        assert float(run["duration_s"]) < 60  # type: ignore[arg-type]
    finally:
        pair.kill_all()
        pair.store.close()


def test_emergency_healer_recovery_runs_the_protocol(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """grace serve frozen (runner and API down, process alive) and the watchdog's own tier 3
    switched off: the playbook's 10 steps delegate, stop, reset, restart, verify and revoke;
    the audit log shows the grant and its revocation by the run."""
    pair = _pair(tmp_path, database_url, emergency={"enabled": False})
    try:
        pair.start("watchdog")
        frozen = pair.healthy("serve")
        pair.healthy("watchdog")
        os.kill(frozen, signal.SIGSTOP)
        eventually(
            lambda: (
                observe(pair.data_dir, pair.store, "serve").stale("grace.runner", 15.0)
                and observe(pair.data_dir, pair.store, "serve").stale("grace.api", 15.0)
            ),
            within=60,
            what="the frozen serve's rows to go stale",
        )

        run = _execute(pair, "emergency_healer_recovery", capsys)

        assert run["status"] == "succeeded", run
        steps = {s["step"]: s for s in run["steps"]}  # type: ignore[attr-defined]
        assert len(steps) == 10
        assert steps["assess"]["outputs"]["both_down"] is True
        assert steps["stop_hung"]["outputs"]["pid"] == frozen
        serve = pair.healthy("serve", other_than=frozen)
        actor = f"run:{run['id']}"
        mine = [e for e in pair.store.audit_entries(limit=10_000) if e.actor == actor]
        actions = [e.action for e in mine if e.action.startswith("watchdog.")]
        assert actions[0] == "watchdog.delegation_granted", actions
        assert actions[-1] == "watchdog.delegation_revoked", actions
        assert "watchdog.peer_stopped" in actions
        assert "watchdog.limits_reset" in actions
        revoked = mine[[e.action for e in mine].index("watchdog.delegation_revoked")]
        assert revoked.payload["grant_id"] == steps["delegate"]["outputs"]["grant_id"]
        assert revoked.payload["was_in_force"] is True
        assert pair.running("serve") == serve
        assert float(run["duration_s"]) < 120  # type: ignore[arg-type]
    finally:
        pair.kill_all()
        pair.store.close()


@pytest.mark.parametrize(
    ("name", "steps", "slo_min"),
    [("healer_mutual_restart", 5, 1), ("emergency_healer_recovery", 10, 2)],
)
def test_the_healer_playbooks_validate_with_their_shape(
    name: str, steps: int, slo_min: int
) -> None:
    """``grace validate`` accepts each file; 5 and 10 steps; the SLO is the run timeout, and
    the step timeouts fit in it."""
    from grace.actions._registry import default_registry
    from grace.playbooks import bundled_dir, load_file

    path = bundled_dir() / f"{name}.yaml"
    assert main(["validate", str(path)]) == 0
    spec = load_file(path, registry=default_registry(), bundled=True).spec
    assert len(spec.steps) == steps
    assert spec.timeout_min == slo_min
    assert sum(s.timeout_s for s in spec.steps) <= slo_min * 60
