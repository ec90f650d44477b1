"""The ``governance:`` section of grace.yaml: every knob of the governor, with safe defaults."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from grace._docstrings import DOCUMENTED
from grace.durations import Duration
from grace.governance._policy import PolicyConfig
from grace.governance._windows import ChangeWindowConfig

__all__ = ("GovernanceConfig",)


class GovernanceConfig(BaseModel):
    """How careful the governor is. Every default errs on the side of doing less."""

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    """Risk x autonomy tier → execute, propose, approval, quorum or refuse (docs/governance-policy.md)."""
    change_windows: ChangeWindowConfig = Field(default_factory=ChangeWindowConfig)
    """When medium, high and critical runs may go without an override (docs/governance-windows.md)."""
    dedupe_window: Duration = 60.0
    """Repeats of an incident within this long of its last run's creation are suppressed."""
    cooldown: Duration = 120.0
    """Repeats of an incident within this long of its last run's end are suppressed."""
    approval_repeat_window: Duration = 600.0
    """After an approval request was rejected or expired, no new request for the same incident."""
    approval_ttl: Duration = 3600.0
    """A run awaiting approval (or blocked by the change window) expires after this long."""
    proposal_ttl: Duration = 86_400.0
    """A proposed run (observe-only mode) expires after this long."""
    max_attempts: int = Field(default=3, ge=1, le=100)
    """Runs of one incident allowed within ``attempts_window``; one more opens the circuit."""
    attempts_window: Duration = 3600.0
    """The window ``max_attempts`` counts in."""
    circuit_open_for: Duration = 3600.0
    """How long an open circuit suppresses the incident (``grace circuit reset`` closes it)."""
    max_event_age: Duration = 900.0
    """An event older than this is stale: it is recorded but starts nothing."""
    inhibit: bool = True
    """A firing critical diagnosis on a service inhibits lower-priority playbooks there."""
    escalation_webhook: HttpUrl | None = None
    """Where escalations are POSTed as JSON (title, message, service, ticket); always logged."""

    def expires_at(self, status: str, now: datetime) -> datetime | None:
        """When a run created ``now`` in ``status`` expires: proposals after ``proposal_ttl``,
        runs waiting for approval or the change window after ``approval_ttl``; others never."""
        ttl = {
            "proposed": self.proposal_ttl,
            "awaiting_approval": self.approval_ttl,
            "blocked_change_window": self.approval_ttl,
        }.get(str(status))
        return None if ttl is None else now + timedelta(seconds=ttl)
