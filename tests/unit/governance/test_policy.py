"""The policy matrix: every cell in both modes, requires_approval, overrides, validation, docs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from grace._docstrings import field_docs
from grace.governance._policy import (
    DEFAULT_MATRIX,
    MODES,
    RISK_LEVELS,
    TIERS,
    PolicyAction,
    PolicyConfig,
    PolicyOverride,
    PolicyRuling,
    matrix_rows,
    rule,
)

X = "\N{MULTIPLICATION SIGN}"
"""The sign between risk and tier in reasons (spelled out: ruff flags the literal)."""

DOC = Path(__file__).resolve().parents[3] / "docs" / "governance-policy.md"

# The spec, typed out by hand (never derived from the module under test).
EXECUTE = {
    "low": ("propose", "execute", "execute", "execute"),
    "medium": ("propose", "require_approval", "execute", "execute"),
    "high": ("propose", "require_approval", "require_approval", "execute"),
    "critical": ("refuse", "require_quorum", "require_quorum", "require_quorum"),
}
OBSERVE = {
    "low": ("propose", "propose", "propose", "propose"),
    "medium": ("propose", "propose", "propose", "propose"),
    "high": ("propose", "propose", "propose", "propose"),
    "critical": ("refuse", "propose", "propose", "propose"),
}
# With requires_approval: true, execute becomes require_approval; nothing else moves.
EXECUTE_APPROVAL = {
    "low": ("propose", "require_approval", "require_approval", "require_approval"),
    "medium": ("propose", "require_approval", "require_approval", "require_approval"),
    "high": ("propose", "require_approval", "require_approval", "require_approval"),
    "critical": ("refuse", "require_quorum", "require_quorum", "require_quorum"),
}
OBSERVE_APPROVAL = OBSERVE

CELLS = [(risk, tier) for risk in ("low", "medium", "high", "critical") for tier in (0, 1, 2, 3)]


def _cases(table: Mapping[str, tuple[str, ...]], mode: str) -> list[Any]:
    return [
        pytest.param(risk, tier, mode, table[risk][tier], id=f"{mode}-{risk}-tier{tier}")
        for risk, tier in CELLS
    ]


def _rule(
    config: PolicyConfig | None = None,
    *,
    risk: str = "low",
    tier: int = 3,
    mode: str = "execute",
    requires_approval: bool = False,
    playbook: str = "restart_api",
    service: str = "payments",
) -> PolicyRuling:
    return rule(
        config if config is not None else PolicyConfig(),
        risk=risk,
        tier=tier,
        mode=mode,
        requires_approval=requires_approval,
        playbook=playbook,
        service=service,
    )


# -- the default matrix ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "tier", "mode", "expected"), _cases(EXECUTE, "execute") + _cases(OBSERVE, "observe")
)
def test_default_cell(risk: str, tier: int, mode: str, expected: str) -> None:
    """Every (risk, tier) cell in both modes gives exactly the documented action."""
    ruling = _rule(risk=risk, tier=tier, mode=mode)
    assert ruling.action is PolicyAction(expected)
    assert ruling.source == "default matrix"


@pytest.mark.parametrize(
    ("risk", "tier", "mode", "expected"),
    _cases(EXECUTE_APPROVAL, "execute") + _cases(OBSERVE_APPROVAL, "observe"),
)
def test_requires_approval_cell(risk: str, tier: int, mode: str, expected: str) -> None:
    """requires_approval upgrades execute to require_approval; quorum, refuse, propose stay."""
    ruling = _rule(risk=risk, tier=tier, mode=mode, requires_approval=True)
    assert ruling.action is PolicyAction(expected)


def test_default_matrix_constant() -> None:
    """DEFAULT_MATRIX holds exactly the 16 execute-mode cells, and is read-only."""
    assert dict(DEFAULT_MATRIX) == {
        (risk, tier): PolicyAction(EXECUTE[risk][tier]) for risk, tier in CELLS
    }
    with pytest.raises(TypeError):
        DEFAULT_MATRIX[("low", 0)] = PolicyAction.EXECUTE  # type: ignore[index]


def test_constants() -> None:
    assert RISK_LEVELS == ("low", "medium", "high", "critical")
    assert TIERS == (0, 1, 2, 3)
    assert MODES == ("observe", "execute")
    assert [a.value for a in PolicyAction] == [
        "execute",
        "propose",
        "require_approval",
        "require_quorum",
        "refuse",
    ]


@pytest.mark.parametrize(
    ("mode", "table"), [("execute", EXECUTE), ("observe", OBSERVE)], ids=["execute", "observe"]
)
def test_matrix_rows_default(mode: str, table: Mapping[str, tuple[str, ...]]) -> None:
    assert matrix_rows(mode=mode) == [(risk, list(actions)) for risk, actions in table.items()]
    assert matrix_rows(None, mode=mode) == matrix_rows(PolicyConfig(), mode=mode)


# -- reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (
            {"risk": "high", "tier": 1},
            f"risk high {X} tier 1 in execute mode → require_approval (default matrix)",
        ),
        (
            {"risk": "low", "tier": 2, "mode": "observe"},
            f"risk low {X} tier 2 in observe mode → propose "
            "(default matrix says execute; observe mode never executes)",
        ),
        (
            {"risk": "low", "tier": 3, "requires_approval": True},
            f"risk low {X} tier 3 in execute mode → require_approval "
            "(default matrix says execute; the playbook requires approval)",
        ),
        (
            {"risk": "critical", "tier": 2},
            f"risk critical {X} tier 2 in execute mode → require_quorum of 2 distinct approvers, "
            "not counting the requester (default matrix)",
        ),
        (
            {"risk": "critical", "tier": 0, "mode": "observe"},
            f"risk critical {X} tier 0 in observe mode → refuse (default matrix)",
        ),
        (
            {"risk": "low", "tier": 0, "requires_approval": True},
            f"risk low {X} tier 0 in execute mode → propose (default matrix)",
        ),
    ],
)
def test_reason(kwargs: dict[str, Any], reason: str) -> None:
    assert _rule(**kwargs).reason == reason


def test_quorum_size_is_in_the_reason() -> None:
    ruling = _rule(PolicyConfig(quorum=3), risk="critical", tier=3)
    assert ruling.action is PolicyAction.REQUIRE_QUORUM
    assert "require_quorum of 3 distinct approvers, not counting the requester" in ruling.reason


# -- overrides ------------------------------------------------------------------------------

BOTH = {"playbook": "restart_api", "service": "payments"}
PLAYBOOK = {"playbook": "restart_api"}
SERVICE = {"service": "payments"}
NEITHER = {"risk": "low"}


def _ov(decision: str, **fields: Any) -> dict[str, Any]:
    return {**fields, "decision": decision}


@pytest.mark.parametrize(
    ("overrides", "expected", "source"),
    [
        pytest.param([], "execute", "default matrix", id="no-overrides"),
        pytest.param([_ov("refuse", **NEITHER)], "refuse", "override 1 (risk=low)", id="risk-only"),
        pytest.param(
            [_ov("refuse", **SERVICE), _ov("propose", **NEITHER)],
            "refuse",
            "override 1 (service=payments)",
            id="service-beats-neither",
        ),
        pytest.param(
            [_ov("propose", **NEITHER), _ov("refuse", **SERVICE)],
            "refuse",
            "override 2 (service=payments)",
            id="service-beats-neither-listed-later",
        ),
        pytest.param(
            [_ov("refuse", **SERVICE), _ov("require_approval", **PLAYBOOK)],
            "require_approval",
            "override 2 (playbook=restart_api)",
            id="playbook-beats-service",
        ),
        pytest.param(
            [_ov("refuse", **PLAYBOOK), _ov("require_quorum", **BOTH), _ov("propose", **SERVICE)],
            "require_quorum",
            "override 2 (playbook=restart_api, service=payments)",
            id="both-beats-playbook",
        ),
        pytest.param(
            [
                _ov("refuse", playbook="restart_api", tier=3),
                _ov("propose", playbook="restart_api", risk="low"),
            ],
            "refuse",
            "override 1 (playbook=restart_api, tier=3)",
            id="same-specificity-first-listed-wins",
        ),
        pytest.param(
            [
                _ov("propose", playbook="restart_api", risk="low"),
                _ov("refuse", playbook="restart_api", tier=3),
            ],
            "propose",
            "override 1 (playbook=restart_api, risk=low)",
            id="same-specificity-order-matters",
        ),
        pytest.param(
            [_ov("refuse", playbook="other"), _ov("refuse", service="billing")],
            "execute",
            "default matrix",
            id="non-matching-names",
        ),
        pytest.param(
            [_ov("refuse", playbook="restart_api", risk="high")],
            "execute",
            "default matrix",
            id="named-risk-must-match-too",
        ),
        pytest.param(
            [_ov("refuse", **BOTH, tier=2)],
            "execute",
            "default matrix",
            id="named-tier-must-match-too",
        ),
        pytest.param(
            [_ov("require_approval")], "require_approval", "override 1 (any run)", id="blanket"
        ),
        pytest.param(
            [_ov("refuse", risk="low", tier=3), _ov("require_approval", playbook="restart_api")],
            "require_approval",
            "override 2 (playbook=restart_api)",
            id="playbook-beats-risk-and-tier",
        ),
    ],
)
def test_override_precedence(overrides: list[dict[str, Any]], expected: str, source: str) -> None:
    """Most specific wins (both > playbook > service > neither), then the first listed."""
    config = PolicyConfig.model_validate({"overrides": overrides})
    ruling = _rule(config, risk="low", tier=3)
    assert ruling.action is PolicyAction(expected)
    assert ruling.source == source


@pytest.mark.parametrize(
    ("decision", "mode", "requires_approval", "expected"),
    [
        ("execute", "execute", False, "execute"),
        ("execute", "execute", True, "require_approval"),
        ("execute", "observe", False, "propose"),
        ("execute", "observe", True, "propose"),
        ("refuse", "execute", False, "refuse"),
        ("refuse", "execute", True, "refuse"),
        ("refuse", "observe", False, "refuse"),
        ("refuse", "observe", True, "refuse"),
        ("require_quorum", "execute", True, "require_quorum"),
        ("require_quorum", "observe", False, "propose"),
        ("require_approval", "execute", False, "require_approval"),
        ("require_approval", "observe", False, "propose"),
        ("propose", "execute", True, "propose"),
    ],
)
def test_override_then_mode_then_requires_approval(
    decision: str, mode: str, requires_approval: bool, expected: str
) -> None:
    """An override replaces the cell; observe mode and requires_approval apply after it."""
    config = PolicyConfig.model_validate({"overrides": [_ov(decision, **BOTH)]})
    # critical at tier 0 is refuse by default: the override must replace it, not add to it.
    ruling = _rule(config, risk="critical", tier=0, mode=mode, requires_approval=requires_approval)
    assert ruling.action is PolicyAction(expected)
    assert ruling.source == "override 1 (playbook=restart_api, service=payments)"


def test_override_reason_names_the_override_and_the_adjustment() -> None:
    config = PolicyConfig.model_validate({"overrides": [_ov("propose"), _ov("execute", **BOTH)]})
    ruling = _rule(config, risk="high", tier=1, mode="observe")
    assert ruling.reason == (
        f"risk high {X} tier 1 in observe mode → propose (override 2 (playbook=restart_api, "
        "service=payments) says execute; observe mode never executes)"
    )


def test_refuse_in_observe_mode() -> None:
    """Refuse survives observe mode, both from the matrix and from an override."""
    assert _rule(risk="critical", tier=0, mode="observe").action is PolicyAction.REFUSE
    config = PolicyConfig.model_validate({"overrides": [_ov("refuse", service="payments")]})
    for risk, tier in CELLS:
        for mode in ("observe", "execute"):
            ruling = _rule(config, risk=risk, tier=tier, mode=mode, requires_approval=True)
            assert ruling.action is PolicyAction.REFUSE, (risk, tier, mode)


def test_matrix_rows_apply_only_risk_and_tier_overrides() -> None:
    config = PolicyConfig.model_validate(
        {
            "overrides": [
                _ov("refuse", **PLAYBOOK),
                _ov("refuse", **SERVICE),
                _ov("refuse", **BOTH),
                _ov("require_approval", risk="low"),
                _ov("execute", tier=0, risk="medium"),
            ]
        }
    )
    assert matrix_rows(config) == [
        ("low", ["require_approval"] * 4),
        ("medium", ["execute", "require_approval", "execute", "execute"]),
        ("high", ["propose", "require_approval", "require_approval", "execute"]),
        ("critical", ["refuse", "require_quorum", "require_quorum", "require_quorum"]),
    ]
    assert matrix_rows(config, mode="observe") == [
        ("low", ["propose"] * 4),
        ("medium", ["propose"] * 4),
        ("high", ["propose"] * 4),
        ("critical", ["refuse", "propose", "propose", "propose"]),
    ]


# -- bad arguments and bad config -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "dry_run"}, r"unknown mode 'dry_run': expected one of observe, execute"),
        ({"mode": "EXECUTE"}, "unknown mode"),
        ({"risk": "severe"}, r"unknown risk level 'severe': expected one of low, medium"),
        ({"tier": 4}, r"unknown autonomy tier 4: expected an integer from 0 to 3"),
        ({"tier": -1}, "unknown autonomy tier -1"),
        ({"tier": "1"}, "unknown autonomy tier '1'"),
        ({"tier": True}, "unknown autonomy tier True"),
        ({"tier": 1.0}, "unknown autonomy tier 1.0"),
    ],
)
def test_rule_rejects_unknown_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _rule(**kwargs)


def test_matrix_rows_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'auto'"):
        matrix_rows(mode="auto")


@pytest.mark.parametrize(
    ("data", "loc", "fragment"),
    [
        ({"overrides": [_ov("refuse", tier=4)]}, ("overrides", 0, "tier"), "less than or equal"),
        ({"overrides": [_ov("refuse", tier=-1)]}, ("overrides", 0, "tier"), "greater than"),
        ({"quorum": 1}, ("quorum",), "greater than or equal to 2"),
        ({"quorum": 11}, ("quorum",), "less than or equal to 10"),
        ({"overrides": [_ov("run_anyway")]}, ("overrides", 0, "decision"), "'execute'"),
        ({"overrides": [{"playbook": "x"}]}, ("overrides", 0, "decision"), "Field required"),
        ({"overrides": [_ov("refuse", risk="severe")]}, ("overrides", 0, "risk"), "'critical'"),
        ({"overrides": [_ov("refuse", team="sre")]}, ("overrides", 0, "team"), "Extra inputs"),
        ({"quorom": 3}, ("quorom",), "Extra inputs"),
        ({"overrides": [_ov("refuse", playbook="Restart-API")]}, ("overrides", 0, "playbook"), ""),
        ({"overrides": [_ov("refuse", service="")]}, ("overrides", 0, "service"), "at least 1"),
    ],
)
def test_config_validation(data: dict[str, Any], loc: tuple[Any, ...], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        PolicyConfig.model_validate(data)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert fragment in errors[0]["msg"]


def test_config_rejects_an_override_that_can_never_apply() -> None:
    data = {"overrides": [_ov("refuse", **BOTH), _ov("propose", **NEITHER), _ov("execute", **BOTH)]}
    with pytest.raises(ValidationError, match=r"override 3 .* same run as override 1"):
        PolicyConfig.model_validate(data)


def test_config_defaults_and_frozen() -> None:
    config = PolicyConfig()
    assert config.overrides == []
    assert config.quorum == 2
    with pytest.raises(ValidationError):
        config.quorum = 5  # type: ignore[misc]
    override = PolicyOverride(decision=PolicyAction.REFUSE)
    assert (override.playbook, override.service, override.risk, override.tier) == (None,) * 4
    assert override.describe() == "any run"


def test_config_fields_are_documented() -> None:
    for model in (PolicyConfig, PolicyOverride):
        docs = field_docs(model)
        schema = model.model_json_schema()["properties"]
        for name in model.model_fields:
            assert docs.get(name), f"{model.__name__}.{name} has no docstring"
            assert schema[name]["description"] == docs[name]


# -- properties -----------------------------------------------------------------------------

_overrides = st.lists(
    st.fixed_dictionaries(
        {"decision": st.sampled_from([a.value for a in PolicyAction])},
        optional={
            "playbook": st.sampled_from(["restart_api", "other"]),
            "service": st.sampled_from(["payments", "billing"]),
            "risk": st.sampled_from(["low", "medium", "high", "critical"]),
            "tier": st.integers(0, 3),
        },
    ),
    max_size=6,
    unique_by=lambda d: (d.get("playbook"), d.get("service"), d.get("risk"), d.get("tier")),
)


@settings(max_examples=200, deadline=None)
@given(
    overrides=_overrides,
    risk=st.sampled_from(["low", "medium", "high", "critical"]),
    tier=st.integers(0, 3),
    requires_approval=st.booleans(),
)
def test_observe_never_executes_and_approval_never_executes(
    overrides: list[dict[str, Any]], risk: str, tier: int, requires_approval: bool
) -> None:
    """Whatever the overrides: observe gives only propose/refuse; requires_approval never runs."""
    config = PolicyConfig.model_validate({"overrides": overrides})
    observed = _rule(config, risk=risk, tier=tier, mode="observe")
    assert observed.action in (PolicyAction.PROPOSE, PolicyAction.REFUSE)
    executed = _rule(config, risk=risk, tier=tier, requires_approval=requires_approval)
    assert (observed.action is PolicyAction.REFUSE) == (executed.action is PolicyAction.REFUSE)
    if requires_approval:
        assert executed.action is not PolicyAction.EXECUTE


# -- the doc page stays true ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["execute", "observe"])
def test_doc_table_matches_the_code(mode: str) -> None:
    """docs/governance-policy.md shows exactly the default table of each mode."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"<!-- default-table:{mode} -->", 1)[1].split("<!-- /default-table -->")[0]
    rows = [
        line.strip("| ").split(" | ")
        for line in section.strip().splitlines()[2:]  # skip header and rule
    ]
    got = [(cells[0].strip("*"), [c.strip("`") for c in cells[1:]]) for cells in rows]
    assert got == matrix_rows(mode=mode)


def test_doc_example_config_means_what_the_doc_says() -> None:
    """The grace.yaml example of the doc validates, and its precedence walk-through holds."""
    from ruamel.yaml import YAML

    text = DOC.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = PolicyConfig.model_validate(YAML(typ="safe").load(block)["governance"]["policy"])
    assert config.quorum == 3
    payments = _rule(config, risk="high", tier=1, playbook="restart_api", service="payments")
    assert (payments.action, payments.source) == (
        PolicyAction.EXECUTE,
        "override 2 (playbook=restart_api, service=payments)",
    )
    ledger = _rule(config, risk="high", tier=1, playbook="restart_api", service="ledger")
    assert (ledger.action, ledger.source) == (
        PolicyAction.REQUIRE_APPROVAL,
        "override 3 (playbook=restart_api)",
    )
    other = _rule(config, risk="critical", tier=1, playbook="rotate_keys", service="ledger")
    assert (other.action, other.source) == (
        PolicyAction.REQUIRE_QUORUM,
        "override 1 (service=ledger)",
    )
    assert "require_quorum of 3 distinct approvers" in other.reason
    elsewhere = _rule(config, risk="critical", tier=1, playbook="rotate_keys", service="web")
    assert (elsewhere.action, elsewhere.source) == (
        PolicyAction.REFUSE,
        "override 5 (risk=critical, tier=1)",
    )
    for line in text.split("```\nrisk ", 1)[1].split("```", 1)[0].splitlines():
        assert line.startswith(("risk ", "high ")), line
