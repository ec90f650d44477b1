"""The default guard chain, in order. The first objection decides; the ruling always answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grace.governance._config import GovernanceConfig
from grace.governance._guards import auto_trigger, conditions, make_episode_guard, recovery_signal
from grace.governance._incident import (
    GovernanceView,
    circuit_breaker,
    emergency_stop,
    inhibition,
    open_incident,
    playbook_disabled,
    repeat_window,
    silenced,
    stale_signal,
    throttle,
)
from grace.governance._ruling import make_ruling
from grace.governance._verdict import Guard
from grace.governance._windows import ChangeCalendar

__all__ = ("build_guards", "context_flags")


def build_guards(
    view: GovernanceView, config: GovernanceConfig, *, calendar: ChangeCalendar | None = None
) -> list[Guard]:
    """The guard chain of docs/governance.md, reading state through ``view`` (the store).

    Cheap pure checks come first, then the reads; the ruling (policy, then change window)
    is last and always answers.
    """
    calendar = calendar or ChangeCalendar(config.change_windows)
    return [
        emergency_stop(view),
        playbook_disabled(view),
        recovery_signal,
        stale_signal(config),
        make_episode_guard(view.episode_status),
        auto_trigger,
        # A repeat of an open incident is the common case in a storm: one read settles it.
        open_incident(view),
        silenced(view),
        inhibition(view, config),
        repeat_window(view, config),
        circuit_breaker(view, config),
        throttle(view),
        conditions,
        make_ruling(config, calendar),
    ]


def context_flags(calendar: ChangeCalendar, now: datetime | None) -> dict[str, Any]:
    """Flags playbook conditions may test by bare name (``in_change_freeze``)."""
    if now is None:
        return {"in_change_freeze": False}
    state = calendar.state(now)
    return {"in_change_freeze": state.frozen, "in_change_window": state.open}
