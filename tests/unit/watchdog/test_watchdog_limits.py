"""The healers' shared restart budget (``limits.json``): the supervisor's start-limit rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.supervisor import BackoffConfig, StartLimitConfig
from grace.watchdog import StartBudget, WatchdogConfig


def _budget(tmp_path: Path) -> StartBudget:
    return StartBudget(
        tmp_path,
        StartLimitConfig(burst=3, window_s=60),
        BackoffConfig(initial_s=1, max_s=10, multiplier=2, jitter=0),
        stable_after_s=30,
    )


def test_the_limit_is_a_sliding_window(tmp_path: Path) -> None:
    """Three starts in 60 s spend the budget; the oldest falls out after 60 s."""
    budget = _budget(tmp_path)
    for t in (0.0, 1.0, 2.0):
        assert budget.read("serve", now=t).may_start
        budget.record_start("serve", now=t)
    assert not budget.read("serve", now=3.0).may_start
    assert budget.read("serve", now=60.5).may_start  # the start at 0 left the window
    assert budget.read("watchdog", now=3.0).may_start  # one budget per role


def test_unstable_runs_back_off_and_a_stable_one_clears(tmp_path: Path) -> None:
    """Starts closer than ``stable_after_s`` count as failures (backoff 1 s, 2 s…); a run that
    lasted longer clears the count and the backoff."""
    budget = _budget(tmp_path)
    budget.record_start("serve", now=100.0)
    assert budget.read("serve", now=101.0).not_before == 0.0  # the first restart is at once
    budget.record_start("serve", now=101.0)
    state = budget.read("serve", now=101.5)
    assert (state.failures, state.not_before) == (1, 102.0)
    budget.record_start("serve", now=103.0)
    assert budget.read("serve", now=103.5).not_before == 105.0
    later = budget.read("serve", now=140.0)  # up 37 s: stable
    assert (later.failures, later.starts, later.may_start) == (0, 0, True)


def test_reset_clears_a_spent_budget_and_it_is_shared_on_disk(tmp_path: Path) -> None:
    """The emergency protocol's reset; a second reader (another process) sees the same file."""
    budget = _budget(tmp_path)
    for t in (0.0, 1.0, 2.0):
        budget.record_start("serve", now=t)
    assert not _budget(tmp_path).read("serve", now=3.0).may_start
    budget.reset("serve")
    assert _budget(tmp_path).read("serve", now=3.0).may_start
    assert (tmp_path / "watchdog" / "limits.json").is_file()


def test_config_errors_name_the_field() -> None:
    """An empty command and a non-positive per-component timeout are refused with their name;
    the environment's JSON form is accepted."""
    with pytest.raises(ValueError, match="serve_command must be a non-empty argv list"):
        WatchdogConfig(serve_command=[""])
    with pytest.raises(ValueError, match=r"component_timeouts\.runner must be > 0"):
        WatchdogConfig(component_timeouts={"runner": 0})
    cfg = WatchdogConfig.model_validate('{"enabled": true, "component_timeouts": {"api": 5}}')
    assert cfg.enabled
    assert cfg.timeout_of("api") == 5
    assert cfg.timeout_of("runner") == cfg.component_timeout_s
