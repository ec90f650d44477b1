"""The playbook format as typed models: the single source of truth (the JSON Schema is generated).

Field for field the seed format of DESIGN.md. Unknown keys are errors everywhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grace._docstrings import DOCUMENTED
from grace.durations import Duration

__all__ = (
    "Condition",
    "Metadata",
    "Metrics",
    "PlaybookSpec",
    "Priority",
    "Recovery",
    "RecoveryStep",
    "StepSpec",
    "Threshold",
    "TrackedMetric",
    "TriggerSpec",
    "TriggerType",
)

Priority = Literal["high", "medium", "low"]
TriggerType = Literal[
    "exception",
    "log_message",
    "api_error",
    "scheduled",
    "manual",
    "health",
    "heartbeat",
    "metric",
    "alert",
]
TrackedMetric = Literal["success_rate", "mttr_seconds", "attempts", "duration_seconds"]
NAME_PATTERN = r"^[a-z0-9_]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True, populate_by_name=True)


class Metadata(_Strict):
    """Who owns the playbook and how careful Grace must be with it."""

    description: str = ""
    """One or two sentences: what failure this playbook repairs."""
    owner: str = ""
    """Who to ask about it (a team or a person)."""
    auto_trigger: bool = True
    """False: only manual or API runs; triggers are ignored."""
    requires_approval: bool = False
    """True: every run waits for a human approval, whatever the policy says."""
    risk_level: Literal["low", "medium", "high", "critical"] = "low"
    """How much harm a wrong run could do; the governor weighs it against the autonomy tier."""
    autonomy_tier: int = Field(default=1, ge=0, le=3)
    """0 observe … 3 fully autonomous (the policy matrix decides)."""
    tags: list[str] = Field(default_factory=list)
    """Free labels for filtering in the dashboard and the CLI."""


class TriggerSpec(_Strict):
    """What wakes a playbook."""

    type: TriggerType
    """The kind of signal that fires it."""
    pattern: str | None = None
    """Regex searched in the event message; named groups become diagnosis captures."""
    severity: Literal["debug", "info", "warning", "error", "critical"] | None = None
    """Lowest severity that fires (an ``error`` trigger also fires on ``critical``)."""
    service: str | None = None
    """Only events from this service."""
    cron: str | None = None
    """For ``scheduled``: a five-field cron expression."""
    timezone: str = "UTC"
    """For ``scheduled``: the IANA timezone the cron expression is read in."""
    metric: str | None = None
    """For ``metric``: the metric's name."""
    threshold: float | None = None
    """For ``metric``: fire when the value is at or above this."""


class Condition(_Strict):
    """A safety check that must hold before the playbook runs."""

    check: str
    """A Jinja2 expression over ``event``, ``diagnosis``, ``vars``, ``config`` and context flags."""
    reason: str = ""
    """Why the check exists; shown when it blocks a run."""


class StepSpec(_Strict):
    """One action call."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique within the playbook (``[a-z0-9_]+``); outputs are ``steps.<name>.outputs``."""
    action: str
    """A registered action: a built-in, or one an installed plugin provides."""
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    """Parameters, validated against the action's model; strings may be templates."""
    when: str | None = None
    """Run the step only when this expression is true."""
    outputs: list[str] = Field(default_factory=list)
    """Keys of the action's outputs exposed as ``steps.<name>.outputs.<key>``."""
    timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    """Seconds one attempt may take before it is cancelled and counts as failed."""
    retries: int = Field(default=0, ge=0, le=20)
    """Extra attempts after a failure, with exponential backoff and jitter."""
    retry_delay_s: float = Field(default=1.0, ge=0, le=3_600)
    """Delay before the first retry; doubles each time up to ``retry_max_delay_s``."""
    retry_max_delay_s: float = Field(default=60.0, ge=0, le=86_400)
    """Upper bound of the backoff delay between retries."""
    continue_on_failure: bool = False
    """Carry on with the next step when this one fails."""
    backup: bool | None = None
    """For destructive actions: ``false`` explicitly waives the backup taken first."""
    description: str = ""
    """Shown in plans and on the run timeline."""
    operations: list[str] = Field(default_factory=list)
    """Free text shown in plans (seed format); what runs is ``action`` + ``with``."""
    inputs: list[Any] = Field(default_factory=list)
    """Free text shown in plans (seed format)."""


class RecoveryStep(StepSpec):
    """A recovery step; ``name`` is optional (defaults to ``on_failure_1`` and so on)."""

    name: str = Field(default="", pattern=r"^([a-z0-9_]+)?$")
    """Optional; unique within the playbook. Defaults to ``on_failure_1``, ``on_success_2``…"""


class Recovery(_Strict):
    """Steps run after the main steps: ``on_failure`` (rollback, escalate) or ``on_success``."""

    on_failure: list[RecoveryStep] = Field(default_factory=list)
    """Run, in order, when a step fails (and is not ``continue_on_failure``)."""
    on_success: list[RecoveryStep] = Field(default_factory=list)
    """Run, in order, after every step succeeded."""


class Throttle(_Strict):
    """EDA-style throttle on one incident group (playbook, service, signature). Set exactly one
    of ``once_within``, ``once_after`` or ``accumulate_within`` (with ``threshold``)."""

    once_within: Duration | None = None
    """Fire on the first event, then suppress repeats for this long."""
    once_after: Duration | None = None
    """Hold the first event; fire once when this long has passed (repeats are counted)."""
    accumulate_within: Duration | None = None
    """Fire when ``threshold`` events arrive within this long."""
    threshold: int | None = Field(default=None, ge=1, le=1_000_000)
    """How many events ``accumulate_within`` needs."""

    @model_validator(mode="after")
    def _one_mode(self) -> Throttle:
        modes = [
            n
            for n in ("once_within", "once_after", "accumulate_within")
            if getattr(self, n) is not None
        ]
        if len(modes) != 1:
            msg = "set exactly one of once_within, once_after or accumulate_within" + (
                f" (got {', '.join(modes)})" if modes else ""
            )
            raise ValueError(msg)
        if any(getattr(self, n) <= 0 for n in modes):
            msg = f"{modes[0]} must be longer than 0 seconds"
            raise ValueError(msg)
        if (self.threshold is None) == (self.accumulate_within is not None):
            msg = "threshold goes with accumulate_within, and accumulate_within needs it"
            raise ValueError(msg)
        return self


class Threshold(_Strict):
    """An alert on the playbook's own track record."""

    condition: str
    """A Jinja2 expression over the tracked metrics (``success_rate < 0.8``)."""
    action: Literal["notify", "ticket", "disable"] = "notify"
    """What to do when it holds: notify, open a ticket, or disable the playbook."""


class Metrics(_Strict):
    """What to track about the playbook itself."""

    track: list[TrackedMetric] = Field(default_factory=list)
    """Metrics recorded for this playbook."""
    alert_thresholds: list[Threshold] = Field(default_factory=list)
    """Alerts on those metrics."""


class PlaybookSpec(_Strict):
    """A whole playbook file."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique across every loaded playbook, ``[a-z0-9_]+``."""
    version: str = "1.0.0"
    """Free-form version string (quote it in YAML: ``version: "1.0"``)."""
    priority: Priority = "medium"
    """Orders competing matches: a ``high`` playbook wins over a ``low`` one."""
    metadata: Metadata = Field(default_factory=Metadata)
    """Ownership and how careful Grace must be."""
    triggers: list[TriggerSpec] = Field(default_factory=list)
    """What wakes the playbook; none means manual or API runs only."""
    conditions: list[Condition] = Field(default_factory=list)
    """Safety checks that must all hold before a run starts."""
    steps: list[StepSpec] = Field(min_length=1)
    """The action calls, run in order."""
    recovery: Recovery = Field(default_factory=Recovery)
    """Steps run after the main steps failed or succeeded."""
    metrics: Metrics = Field(default_factory=Metrics)
    """What to track about the playbook itself."""
    throttle: Throttle | None = None
    """Limit how often the playbook fires for one incident (``once_within: 5 minutes``…)."""
    timeout_min: float | None = Field(default=None, gt=0, le=1_440)
    """Per-run timeout for this playbook; default the global ``run_timeout_min``."""
    operations: list[str] = Field(default_factory=list)
    """Free text (seed format), shown in plans."""
    inputs: list[Any] = Field(default_factory=list)
    """Free text (seed format), shown in plans."""
