"""A person's request is governed like an event: conditions see its vars; overrides are recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grace.config import Settings
from grace.engine import Engine, RunRefused
from grace.runs import RunStatus
from grace.testing import FakeClock

GATED = """
name: gated_restart
metadata: {risk_level: medium, autonomy_tier: 2}
conditions:
  - check: "vars.confirm == 'yes'"
    reason: say --var confirm=yes
steps:
  - name: act
    action: log
    with: {message: "restarting"}
"""

SATURDAY = datetime(2026, 5, 9, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> Engine:
    write_playbook("gated_restart", GATED)
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        governance={"change_windows": {"timezone": "UTC"}},
    )
    return Engine(settings, clock=FakeClock(SATURDAY))


def test_conditions_see_the_vars_of_a_manual_run(engine: Engine) -> None:
    """``vars.confirm`` decides: without it the request is refused with the condition's reason."""
    with engine:
        with pytest.raises(RunRefused, match="say --var confirm=yes"):
            engine.new_run("gated_restart", requested_by="alice", vars={"confirm": "no"})
        [refused] = engine.store.audit_entries(action="decision.blocked")
        assert refused.payload["guard"] == "conditions"
        assert refused.payload["trace"][-1] == "conditions: blocked: say --var confirm=yes"
        run = engine.new_run(
            "gated_restart", requested_by="alice", vars={"confirm": "yes"}, override_window=True
        )
        assert run.status is RunStatus.QUEUED  # Saturday, but the requester overrode the window


def test_an_override_of_the_window_is_on_record(engine: Engine) -> None:
    """Outside the window a medium-risk request waits; with ``override_window`` it goes, and
    the decision's audit entry says the window was overridden."""
    with engine:
        waiting = engine.new_run("gated_restart", requested_by="alice", vars={"confirm": "yes"})
        assert waiting.status is RunStatus.BLOCKED_CHANGE_WINDOW
        [blocked] = engine.store.audit_entries(action="decision.blocked", subject=waiting.id)
        assert blocked.payload["override_window"] is False
        assert "does not start by itself" in blocked.payload["hint"]
        engine.store.reject_run(waiting.id, by="bob", reason="not today")
        going = engine.new_run(
            "gated_restart", requested_by="alice", vars={"confirm": "yes"}, override_window=True
        )
        [queued] = engine.store.audit_entries(action="decision.queued", subject=going.id)
        assert queued.payload["override_window"] is True
        assert queued.actor == "alice"
