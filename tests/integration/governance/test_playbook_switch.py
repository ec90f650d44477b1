"""An operator turns a playbook off: it starts nothing, automatic or manual, until turned on."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grace.cli import main
from grace.config import Settings
from grace.engine import Engine, RunRefused
from grace.governance import DecisionKind
from grace.runs import RunStatus
from grace.testing import FakeClock, decider_for, make_event

RESTART = """
name: restart_worker
metadata: {risk_level: low, autonomy_tier: 3}
triggers:
  - type: log_message
    pattern: 'worker stuck'
steps:
  - name: act
    action: log
    with: {message: "restarting"}
"""


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, playbook_dir: Path, write_playbook: Callable[..., Path]
) -> Settings:
    write_playbook("restart_worker", RESTART)
    return Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        mode="execute",
        governance={"change_windows": {"enabled": False}},
    )


def test_a_disabled_playbook_starts_nothing_until_enabled(settings: Settings) -> None:
    clock = FakeClock(datetime(2026, 5, 6, 10, 0, tzinfo=UTC))
    with Engine(settings, clock=clock) as engine:
        decider = decider_for(engine)
        assert engine.store.disable_playbook("restart_worker", by="ops", reason="flapping")
        assert not engine.store.disable_playbook("restart_worker", by="other", reason="again")
        [outcome] = decider.decide(make_event("worker stuck", id="evt_1", time=clock.now()))
        assert outcome.decision.kind is DecisionKind.BLOCKED
        assert outcome.decision.reason.startswith(
            "disabled: playbook 'restart_worker' was turned off by ops at "
        )
        assert outcome.decision.reason.endswith(": flapping")  # the first reason stands
        with pytest.raises(RunRefused, match="turned off by ops"):
            engine.new_run("restart_worker", requested_by="alice")
        [blocked, _] = engine.store.audit_entries(action="decision.blocked")
        assert blocked.payload["guard"] == "playbook_disabled"
        assert "grace playbooks enable restart_worker" in blocked.payload["hint"]
        assert engine.store.list_runs() == []

        assert engine.store.enable_playbook("restart_worker", by="ops", reason="fixed")
        assert not engine.store.enable_playbook("restart_worker", by="ops")
        [again] = decider.decide(make_event("worker stuck", id="evt_2", time=clock.now()))
        assert again.decision.kind is DecisionKind.QUEUED
        actions = [e.action for e in engine.store.audit_entries()]
        assert actions.count("playbook.disabled") == 1
        assert actions.count("playbook.enabled") == 1


def test_the_cli_switches_a_playbook(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRACE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRACE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("GRACE_PLAYBOOK_DIRS", str(settings.playbook_dirs[0]))
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "false")
    monkeypatch.setenv("GRACE_LOG_DIR", str(settings.log_dir))
    monkeypatch.setenv("GRACE_MODE", "execute")
    capsys.readouterr()
    assert main(["playbooks", "disable", "restart_worker", "--reason", "flapping"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["playbooks", "disable", "nope", "--reason", "x"]) == 1
    assert "no playbook named 'nope'" in capsys.readouterr().err
    assert main(["execute", "restart_worker"]) != 0
    assert "turned off by" in capsys.readouterr().err
    assert main(["playbooks", "enable", "restart_worker", "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply == {"playbook": "restart_worker", "disabled": False, "changed": True}
    with Engine(settings) as engine:
        assert engine.store.disabled_playbooks() == {}
        assert engine.new_run("restart_worker", requested_by="alice").status is RunStatus.QUEUED
