"""Durable execution of runs: steps, retries, timeouts, recovery, crash recovery, dry-run plans."""

from __future__ import annotations

from grace.runner._plan import Plan as Plan
from grace.runner._plan import PlannedCondition as PlannedCondition
from grace.runner._plan import PlannedStep as PlannedStep
from grace.runner._plan import plan_run as plan_run
from grace.runner._recover import Recovery as Recovery
from grace.runner._recover import decide as decide
from grace.runner._recover import find_orphans as find_orphans
from grace.runner._recover import owner_is_dead as owner_is_dead
from grace.runner._retry import RetryPolicy as RetryPolicy
from grace.runner._run import Runner as Runner
from grace.runner._run import RunnerConfig as RunnerConfig
from grace.runner._run import default_owner as default_owner
from grace.runner._step import StepOutcome as StepOutcome

__all__ = (
    "Plan",
    "PlannedCondition",
    "PlannedStep",
    "Recovery",
    "RetryPolicy",
    "Runner",
    "RunnerConfig",
    "StepOutcome",
    "decide",
    "default_owner",
    "find_orphans",
    "owner_is_dead",
    "plan_run",
)
