"""Every kind of decision lands in the tamper-evident audit log, with its reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from grace.cli import main
from grace.config import Settings
from grace.engine import Engine
from grace.governance import DecisionKind
from grace.testing import FakeClock, decider_for, make_event

PLAYBOOKS = {
    "fix_alpha": "metadata: {risk_level: low, autonomy_tier: 2}\npattern: alpha",
    "propose_beta": "metadata: {risk_level: low, autonomy_tier: 0}\npattern: beta",
    "ask_gamma": "metadata: {risk_level: medium, autonomy_tier: 1}\npattern: gamma",
    "manual_delta": "metadata: {auto_trigger: false}\npattern: delta",
    "flaky_omega": "metadata: {risk_level: low, autonomy_tier: 3}\npattern: omega\nfail: true",
}


def _playbook(name: str, spec: str) -> str:
    lines = dict(line.split(": ", 1) for line in spec.splitlines())
    command = "false" if "fail" in lines else "true"
    return (
        f"name: {name}\n"
        f"metadata: {lines['metadata']}\n"
        f"triggers:\n  - type: log_message\n    pattern: {lines['pattern']}\n"
        f'steps:\n  - name: act\n    action: shell\n    with: {{argv: ["{command}"]}}\n'
    )


def test_every_decision_kind_is_audited_with_its_reason(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """queued, proposed, awaiting_approval, blocked, suppressed and escalated: each is an
    entry of the hash chain naming its guard and reason, and the chain verifies."""
    for name, spec in PLAYBOOKS.items():
        write_playbook(name, _playbook(name, spec))
    clock = FakeClock(datetime(2026, 5, 6, 10, 0, tzinfo=UTC))
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        mode="execute",
        governance={
            "change_windows": {"enabled": False},
            "max_attempts": 1,
            "cooldown": "1m",
            "dedupe_window": "1m",
        },
    )
    with Engine(settings, clock=clock) as engine:
        assert engine.playbook_errors == []
        decider = decider_for(engine)

        def decide(text: str, n: int) -> DecisionKind:
            [outcome] = decider.decide(
                make_event(text, id=f"evt_{n}", service="svc", time=clock.now())
            )
            return outcome.decision.kind

        assert decide("alpha", 1) is DecisionKind.QUEUED
        assert decide("alpha", 2) is DecisionKind.SUPPRESSED  # the first run is still open
        assert decide("beta", 3) is DecisionKind.PROPOSED
        assert decide("gamma", 4) is DecisionKind.AWAITING_APPROVAL
        assert decide("delta", 5) is DecisionKind.BLOCKED
        assert decide("omega", 6) is DecisionKind.QUEUED
        [failing] = [r for r in engine.store.list_runs() if r.playbook == "flaky_omega"]
        assert anyio.run(engine.runner.execute, failing.id).status.value == "failed"
        clock.advance(120)
        assert decide("omega", 7) is DecisionKind.ESCALATED

        for kind in DecisionKind:
            entries = engine.store.audit_entries(action=f"decision.{kind.value}")
            assert entries, f"no decision.{kind.value} in the audit log"
            for entry in entries:
                assert entry.payload["reason"], entry
                assert entry.payload["guard"], entry
                assert entry.payload["trace"], entry
        [escalated] = engine.store.audit_entries(action="decision.escalated")
        assert escalated.payload["guard"] == "circuit_breaker"
        assert "1 attempts in 1h" in escalated.payload["reason"]
        [blocked] = engine.store.audit_entries(action="decision.blocked")
        assert blocked.payload["reason"] == "auto_trigger is false: manual or API runs only"
        [suppressed] = engine.store.audit_entries(action="decision.suppressed")
        assert suppressed.payload["guard"] == "open_incident"
        [ticket] = engine.store.list_tickets()
        assert "flaky_omega" in ticket.title

    code = main(
        ["--data-dir", str(settings.data_dir), "--database-url", database_url, "audit", "verify"]
    )
    assert code == 0, capsys.readouterr().err
    assert "audit log OK" in capsys.readouterr().out
