"""The ruling guard (policy matrix, then change window) through the Governor, cell by cell."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from grace.actions import default_registry
from grace.governance import (
    ChangeCalendar,
    ChangeWindowConfig,
    DecisionKind,
    GovernanceConfig,
    Governor,
    GuardInput,
)
from grace.governance._ruling import make_ruling
from grace.playbooks import Playbook, load_text
from grace.runs import RunStatus
from grace.testing import make_event

THURSDAY_NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""Inside the default weekday 09:00-18:00 window (read in UTC below)."""
SATURDAY_NOON = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
"""Outside it: a weekend."""

WINDOWS_UTC: dict[str, Any] = {"timezone": "UTC"}
"""The default windows (weekdays 09:00-18:00), pinned to UTC so the machine's zone never matters."""

PLAYBOOK = """
name: restart_api
priority: medium
metadata:
  risk_level: {risk}
  autonomy_tier: {tier}
  requires_approval: {approval}
triggers:
  - type: log_message
    pattern: 'api is down'
steps:
  - name: say
    action: log
    with: {{message: "restarting"}}
"""

_REGISTRY = default_registry()

# The spec, typed by hand (never derived from the module under test):
# (DecisionKind, run status, approvals needed) per cell.
PROPOSE = (DecisionKind.PROPOSED, RunStatus.PROPOSED, 0)
QUEUE = (DecisionKind.QUEUED, RunStatus.QUEUED, 0)
ONE = (DecisionKind.AWAITING_APPROVAL, RunStatus.AWAITING_APPROVAL, 1)
QUORUM = (DecisionKind.AWAITING_APPROVAL, RunStatus.AWAITING_APPROVAL, 2)
REFUSE = (DecisionKind.BLOCKED, None, 0)

EXPECTED: dict[str, dict[str, tuple[Any, Any, Any, Any]]] = {
    "execute": {
        "low": (PROPOSE, QUEUE, QUEUE, QUEUE),
        "medium": (PROPOSE, ONE, QUEUE, QUEUE),
        "high": (PROPOSE, ONE, ONE, QUEUE),
        "critical": (REFUSE, QUORUM, QUORUM, QUORUM),
    },
    "observe": {
        "low": (PROPOSE, PROPOSE, PROPOSE, PROPOSE),
        "medium": (PROPOSE, PROPOSE, PROPOSE, PROPOSE),
        "high": (PROPOSE, PROPOSE, PROPOSE, PROPOSE),
        "critical": (REFUSE, PROPOSE, PROPOSE, PROPOSE),
    },
}

CELLS = [
    pytest.param(mode, risk, tier, EXPECTED[mode][risk][tier], id=f"{mode}-{risk}-tier{tier}")
    for mode in ("execute", "observe")
    for risk in ("low", "medium", "high", "critical")
    for tier in (0, 1, 2, 3)
]


def _playbook(risk: str, tier: int, *, requires_approval: bool = False) -> Playbook:
    text = PLAYBOOK.format(risk=risk, tier=tier, approval=str(requires_approval).lower())
    return load_text(text, file="restart_api.yaml", registry=_REGISTRY)


def _governor(config: GovernanceConfig | None = None) -> Governor:
    config = config or GovernanceConfig(change_windows=ChangeWindowConfig(**WINDOWS_UTC))
    return Governor([make_ruling(config, ChangeCalendar(config.change_windows))])


def _input(
    playbook: Playbook,
    *,
    mode: str,
    now: datetime = THURSDAY_NOON,
    trigger: str = "event",
    flags: dict[str, Any] | None = None,
) -> GuardInput:
    return GuardInput(
        event=make_event("api is down", service="api", time=now),
        playbook=playbook,
        captures={},
        signature="sig0000000000000",
        mode=mode,
        flags=flags or {},
        now=now,
        trigger=trigger,
        requested_by="engine" if trigger == "event" else "alice",
    )


@pytest.mark.parametrize(("mode", "risk", "tier", "expected"), CELLS)
def test_every_cell_of_the_default_matrix(
    mode: str, risk: str, tier: int, expected: tuple[Any, Any, Any]
) -> None:
    """Each (mode, risk, tier) inside the change window gets its exact kind, run status and approvals."""
    kind, status, needed = expected
    decision = _governor().decide(_input(_playbook(risk, tier), mode=mode))
    assert decision.kind is kind, decision.reason
    assert decision.run_status == status
    assert decision.approvals_needed == needed
    assert decision.guard == "policy"
    assert decision.playbook == "restart_api"
    assert decision.trace[-1][0] == "policy"
    if kind is DecisionKind.BLOCKED:
        assert decision.reason.startswith("policy refuses: ")
    if status is RunStatus.AWAITING_APPROVAL:
        assert decision.hint.startswith(
            "needs one approval" if needed == 1 else "needs 2 distinct approvers"
        )


def test_quorum_follows_the_configured_size() -> None:
    """A critical run in execute mode needs ``policy.quorum`` approvers, not a hard-coded 2."""
    config = GovernanceConfig(
        policy={"quorum": 3},
        change_windows=ChangeWindowConfig(**WINDOWS_UTC),
    )
    decision = _governor(config).decide(_input(_playbook("critical", 2), mode="execute"))
    assert decision.kind is DecisionKind.AWAITING_APPROVAL
    assert decision.approvals_needed == 3
    assert "needs 3 distinct approvers" in decision.hint


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_requires_approval_turns_execute_into_one_approval(tier: int) -> None:
    """``requires_approval: true`` on a low-risk playbook: one approval instead of queued."""
    playbook = _playbook("low", tier, requires_approval=True)
    decision = _governor().decide(_input(playbook, mode="execute"))
    assert (decision.kind, decision.run_status, decision.approvals_needed) == ONE


@pytest.mark.parametrize(
    ("risk", "tier", "expected"),
    [
        pytest.param("low", 1, QUEUE, id="low-tier1"),
        pytest.param("medium", 2, QUEUE, id="medium-tier2"),
        pytest.param("high", 1, ONE, id="high-tier1"),
        pytest.param("critical", 3, QUORUM, id="critical-tier3"),
        pytest.param("critical", 0, REFUSE, id="critical-tier0-still-refused"),
        pytest.param("low", 0, PROPOSE, id="tier0-still-proposes"),
    ],
)
def test_manual_trigger_ignores_observe_mode(
    risk: str, tier: int, expected: tuple[Any, Any, Any]
) -> None:
    """A person asking for a run decides to act: observe mode rules as execute mode would."""
    decision = _governor().decide(_input(_playbook(risk, tier), mode="observe", trigger="manual"))
    assert (decision.kind, decision.run_status, decision.approvals_needed) == expected


@pytest.mark.parametrize(
    ("risk", "tier", "needed"),
    [
        pytest.param("medium", 1, 1, id="medium-tier1-approval"),
        pytest.param("medium", 2, 1, id="medium-tier2-execute"),
        pytest.param("medium", 3, 1, id="medium-tier3-execute"),
        pytest.param("high", 1, 1, id="high-tier1-approval"),
        pytest.param("high", 2, 1, id="high-tier2-approval"),
        pytest.param("high", 3, 1, id="high-tier3-execute"),
        pytest.param("critical", 1, 2, id="critical-tier1-quorum"),
        pytest.param("critical", 3, 2, id="critical-tier3-quorum"),
    ],
)
def test_medium_and_above_outside_the_window_wait_blocked(
    risk: str, tier: int, needed: int
) -> None:
    """Outside the window, medium+ runs the policy lets through are blocked_change_window, ≥ 1 approval."""
    decision = _governor().decide(_input(_playbook(risk, tier), mode="execute", now=SATURDAY_NOON))
    assert decision.kind is DecisionKind.BLOCKED
    assert decision.run_status is RunStatus.BLOCKED_CHANGE_WINDOW
    assert decision.approvals_needed == needed
    assert decision.reason.startswith(
        "outside change windows (next opens Mon 2026-01-05 09:00 UTC)"
    )
    assert f"a {risk}-risk run waits for an override" in decision.reason
    assert "--override-window" in decision.hint
    assert "2026-01-05T09:00:00+00:00" in decision.hint


def test_manual_request_outside_the_window_is_blocked_too() -> None:
    """A person's medium-risk request on a weekend still needs an override."""
    decision = _governor().decide(
        _input(_playbook("medium", 2), mode="observe", now=SATURDAY_NOON, trigger="manual")
    )
    assert decision.kind is DecisionKind.BLOCKED
    assert decision.run_status is RunStatus.BLOCKED_CHANGE_WINDOW
    assert decision.approvals_needed == 1


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_low_risk_outside_the_window_is_queued(tier: int) -> None:
    """The window only restricts medium, high and critical runs."""
    decision = _governor().decide(_input(_playbook("low", tier), mode="execute", now=SATURDAY_NOON))
    assert (decision.kind, decision.run_status, decision.approvals_needed) == QUEUE


@pytest.mark.parametrize(
    ("risk", "tier", "expected"),
    [
        pytest.param("medium", 2, QUEUE, id="medium-tier2-queued"),
        pytest.param("high", 2, ONE, id="high-tier2-approval"),
        pytest.param("critical", 1, QUORUM, id="critical-tier1-quorum"),
    ],
)
def test_override_window_lets_it_through(
    risk: str, tier: int, expected: tuple[Any, Any, Any]
) -> None:
    """``override_window`` skips the window check; the policy's answer stands."""
    decision = _governor().decide(
        _input(
            _playbook(risk, tier),
            mode="execute",
            now=SATURDAY_NOON,
            flags={"override_window": True},
        )
    )
    assert (decision.kind, decision.run_status, decision.approvals_needed) == expected


def test_observe_mode_outside_the_window_still_proposes() -> None:
    """A proposal executes nothing, so the window does not hold it back."""
    decision = _governor().decide(_input(_playbook("high", 3), mode="observe", now=SATURDAY_NOON))
    assert (decision.kind, decision.run_status, decision.approvals_needed) == PROPOSE


def test_a_freeze_inside_a_window_blocks() -> None:
    """A freeze wins over an open window: a medium run on a Thursday noon in a freeze is blocked."""
    config = GovernanceConfig(
        change_windows=ChangeWindowConfig(
            timezone="UTC",
            freezes=[
                {
                    "start": "2026-01-01T00:00:00+00:00",
                    "end": "2026-01-02T00:00:00+00:00",
                    "reason": "new year freeze",
                }
            ],
        )
    )
    governor = _governor(config)
    decision = governor.decide(_input(_playbook("medium", 3), mode="execute"))
    assert decision.kind is DecisionKind.BLOCKED
    assert decision.run_status is RunStatus.BLOCKED_CHANGE_WINDOW
    assert decision.approvals_needed == 1
    assert decision.reason.startswith(
        "change freeze until 2026-01-02 00:00 UTC: new year freeze: a medium-risk run waits"
    )
    # Low risk is not held by a freeze; after the freeze the same medium run is queued.
    low = governor.decide(_input(_playbook("low", 3), mode="execute"))
    assert (low.kind, low.run_status) == (DecisionKind.QUEUED, RunStatus.QUEUED)
    after = governor.decide(
        _input(_playbook("medium", 3), mode="execute", now=datetime(2026, 1, 2, 12, tzinfo=UTC))
    )
    assert (after.kind, after.run_status) == (DecisionKind.QUEUED, RunStatus.QUEUED)


def test_disabled_windows_never_block() -> None:
    """``change_windows.enabled: false``: a high-risk tier-3 run on a weekend is queued."""
    config = GovernanceConfig(change_windows=ChangeWindowConfig(enabled=False))
    decision = _governor(config).decide(
        _input(_playbook("high", 3), mode="execute", now=SATURDAY_NOON)
    )
    assert (decision.kind, decision.run_status, decision.approvals_needed) == QUEUE
