"""The policy matrix: risk level, autonomy tier and mode → what may happen to a run.

Pure: no I/O, no clock, no logging. One function, :func:`rule`, answers for one playbook run;
:func:`matrix_rows` renders the table for docs and ``grace explain``. The order of the answer
is fixed and documented in ``docs/governance-policy.md``:

1. the cell: the most specific matching override, else :data:`DEFAULT_MATRIX`;
2. observe mode: every answer but ``refuse`` becomes ``propose`` (observe mode never executes);
3. ``requires_approval: true``: an ``execute`` answer becomes ``require_approval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grace._docstrings import DOCUMENTED

__all__ = (
    "DEFAULT_MATRIX",
    "MODES",
    "RISK_LEVELS",
    "TIERS",
    "PolicyAction",
    "PolicyConfig",
    "PolicyOverride",
    "PolicyRuling",
    "RiskLevel",
    "matrix_rows",
    "rule",
)


class PolicyAction(StrEnum):
    """What the policy allows for one run, from most to least autonomous."""

    EXECUTE = "execute"
    """Run now."""
    PROPOSE = "propose"
    """Record a proposal; nothing executes until a human starts it."""
    REQUIRE_APPROVAL = "require_approval"
    """Wait for one human approval, then run."""
    REQUIRE_QUORUM = "require_quorum"
    """Wait for ``quorum`` distinct approvers (the requester does not count), then run."""
    REFUSE = "refuse"
    """Never runs, whatever the mode or approvals."""


RiskLevel = Literal["low", "medium", "high", "critical"]
"""How much harm a wrong run could do (a playbook's ``metadata.risk_level``)."""

RISK_LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")
"""Every risk level, least to most dangerous (the rows of the matrix)."""

TIERS: tuple[int, ...] = (0, 1, 2, 3)
"""Every autonomy tier: 0 observe … 3 fully autonomous (the columns of the matrix)."""

MODES: tuple[str, ...] = ("observe", "execute")
"""Grace's modes: ``observe`` proposes and never executes; ``execute`` follows the matrix."""

_E = PolicyAction.EXECUTE
_P = PolicyAction.PROPOSE
_A = PolicyAction.REQUIRE_APPROVAL
_Q = PolicyAction.REQUIRE_QUORUM
_R = PolicyAction.REFUSE

_ROWS: dict[str, tuple[PolicyAction, PolicyAction, PolicyAction, PolicyAction]] = {
    # risk: (tier 0, tier 1, tier 2, tier 3)
    "low": (_P, _E, _E, _E),
    "medium": (_P, _A, _E, _E),
    "high": (_P, _A, _A, _E),
    "critical": (_R, _Q, _Q, _Q),
}

DEFAULT_MATRIX: Mapping[tuple[str, int], PolicyAction] = MappingProxyType(
    {(risk, tier): _ROWS[risk][tier] for risk in RISK_LEVELS for tier in TIERS}
)
"""The execute-mode answer for every (risk, tier) cell, before overrides (read-only)."""


class _Strict(BaseModel):
    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)


class PolicyOverride(_Strict):
    """One rule replacing the matrix cell for the runs it matches (every named field must match)."""

    playbook: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    """Only runs of this playbook (None: any playbook)."""
    service: str | None = Field(default=None, min_length=1)
    """Only runs for this service (None: any service)."""
    risk: RiskLevel | None = None
    """Only playbooks of this risk level (None: any risk)."""
    tier: int | None = Field(default=None, ge=0, le=3)
    """Only playbooks of this autonomy tier (None: any tier)."""
    decision: PolicyAction
    """The answer for matching runs, before the observe-mode and ``requires_approval`` rules."""

    @property
    def specificity(self) -> int:
        """Precedence rank: 3 playbook and service, 2 playbook, 1 service, 0 risk/tier only."""
        return 2 * (self.playbook is not None) + (self.service is not None)

    def matches(self, *, risk: str, tier: int, playbook: str | None, service: str | None) -> bool:
        """Whether every field this override names equals the run's.

        A run field given as None (the table of :func:`matrix_rows`) matches only overrides
        that do not name that field.
        """
        return (
            (self.playbook is None or self.playbook == playbook)
            and (self.service is None or self.service == service)
            and (self.risk is None or self.risk == risk)
            and (self.tier is None or self.tier == tier)
        )

    def describe(self) -> str:
        """The fields it names, e.g. ``playbook=restart_api, service=payments`` (or ``any run``)."""
        named = [
            f"{key}={value}"
            for key, value in (
                ("playbook", self.playbook),
                ("service", self.service),
                ("risk", self.risk),
                ("tier", self.tier),
            )
            if value is not None
        ]
        return ", ".join(named) or "any run"


class PolicyConfig(_Strict):
    """The ``governance.policy`` section of grace.yaml: overrides of the matrix, and the quorum."""

    overrides: list[PolicyOverride] = Field(default_factory=list)
    """Rules replacing matrix cells; the most specific matching one wins, then the first listed."""
    quorum: int = Field(default=2, ge=2, le=10)
    """Distinct approvers a ``require_quorum`` run needs (the requester never counts)."""

    @model_validator(mode="after")
    def _no_dead_overrides(self) -> PolicyConfig:
        seen: dict[tuple[str | None, str | None, str | None, int | None], int] = {}
        for number, override in enumerate(self.overrides, start=1):
            key = (override.playbook, override.service, override.risk, override.tier)
            if key in seen:
                msg = (
                    f"override {number} ({override.describe()}) names the same run as override "
                    f"{seen[key]}, which is listed first and always wins; "
                    f"remove one of them or make it more specific"
                )
                raise ValueError(msg)
            seen[key] = number
        return self


@dataclass(frozen=True, slots=True)
class PolicyRuling:
    """The policy's answer for one run, and why."""

    action: PolicyAction
    reason: str
    """A sentence for humans and the audit log: the cell, the mode, every adjustment."""
    source: str
    """Where the cell came from: ``default matrix`` or ``override N (field=value, …)``."""


def rule(
    config: PolicyConfig,
    *,
    risk: str,
    tier: int,
    mode: str,
    requires_approval: bool,
    playbook: str,
    service: str,
) -> PolicyRuling:
    """The policy's answer for one run of ``playbook`` for ``service``.

    Raises ValueError for an unknown ``risk``, ``tier`` or ``mode``.
    """
    return _decide(
        config,
        risk=risk,
        tier=tier,
        mode=mode,
        requires_approval=requires_approval,
        playbook=playbook,
        service=service,
    )


def matrix_rows(
    config: PolicyConfig | None = None, *, mode: str = "execute"
) -> list[tuple[str, list[str]]]:
    """The table ``[(risk, [action for tier 0..3]), …]`` for docs and ``grace explain``.

    Only overrides naming neither a playbook nor a service apply (risk/tier rules); the rest
    depend on the run. ``requires_approval`` is taken as false. Raises ValueError for an
    unknown ``mode``.
    """
    config = config if config is not None else PolicyConfig()
    return [
        (
            risk,
            [
                _decide(
                    config,
                    risk=risk,
                    tier=tier,
                    mode=mode,
                    requires_approval=False,
                    playbook=None,
                    service=None,
                ).action.value
                for tier in TIERS
            ],
        )
        for risk in RISK_LEVELS
    ]


def _decide(
    config: PolicyConfig,
    *,
    risk: str,
    tier: int,
    mode: str,
    requires_approval: bool,
    playbook: str | None,
    service: str | None,
) -> PolicyRuling:
    _check(risk=risk, tier=tier, mode=mode)
    cell, source = _cell(config, risk=risk, tier=tier, playbook=playbook, service=service)
    action = cell
    adjustments: list[str] = []
    if mode == "observe" and action not in (PolicyAction.REFUSE, PolicyAction.PROPOSE):
        action = PolicyAction.PROPOSE
        adjustments.append("observe mode never executes")
    if requires_approval and action is PolicyAction.EXECUTE:
        action = PolicyAction.REQUIRE_APPROVAL
        adjustments.append("the playbook requires approval")
    why = source if not adjustments else f"{source} says {cell}; {'; '.join(adjustments)}"
    answer = str(action)
    if action is PolicyAction.REQUIRE_QUORUM:
        answer += f" of {config.quorum} distinct approvers, not counting the requester"
    reason = f"risk {risk} \N{MULTIPLICATION SIGN} tier {tier} in {mode} mode → {answer} ({why})"
    return PolicyRuling(action=action, reason=reason, source=source)


def _cell(
    config: PolicyConfig, *, risk: str, tier: int, playbook: str | None, service: str | None
) -> tuple[PolicyAction, str]:
    best: tuple[int, PolicyOverride] | None = None
    for number, override in enumerate(config.overrides, start=1):
        if not override.matches(risk=risk, tier=tier, playbook=playbook, service=service):
            continue
        if best is None or override.specificity > best[1].specificity:
            best = (number, override)
    if best is None:
        return DEFAULT_MATRIX[(risk, tier)], "default matrix"
    number, override = best
    return override.decision, f"override {number} ({override.describe()})"


def _check(*, risk: str, tier: int, mode: str) -> None:
    if mode not in MODES:
        msg = f"unknown mode {mode!r}: expected one of {', '.join(MODES)}"
        raise ValueError(msg)
    if risk not in RISK_LEVELS:
        msg = f"unknown risk level {risk!r}: expected one of {', '.join(RISK_LEVELS)}"
        raise ValueError(msg)
    if not isinstance(tier, int) or isinstance(tier, bool) or tier not in TIERS:
        msg = f"unknown autonomy tier {tier!r}: expected an integer from 0 to 3"
        raise ValueError(msg)
