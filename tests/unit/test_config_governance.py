"""Settings: the seeds' mode switches and the ``governance:`` block of grace.yaml."""

from __future__ import annotations

import textwrap
from datetime import time
from pathlib import Path

import pytest

from grace.config import load_settings
from grace.errors import ConfigError
from grace.governance import PolicyAction


@pytest.fixture
def empty_yaml(tmp_path: Path) -> Path:
    """A grace.yaml with nothing in it (so no file in the working directory is read)."""
    path = tmp_path / "grace.yaml"
    path.write_text("", encoding="utf-8")
    return path


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grace.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_default_mode_is_observe(empty_yaml: Path) -> None:
    """With no switch anywhere, Grace only observes."""
    settings, origins = load_settings(empty_yaml, environ={})
    assert settings.mode == "observe"
    assert origins["mode"] == "default"


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "TRUE", " True "])
def test_self_heal_execute_true_switches_to_execute(empty_yaml: Path, value: str) -> None:
    """The seed's SELF_HEAL_EXECUTE=true turns execute mode on, and says so in the origins."""
    settings, origins = load_settings(empty_yaml, environ={"SELF_HEAL_EXECUTE": value})
    assert settings.mode == "execute"
    assert origins["mode"] == "env SELF_HEAL_EXECUTE"


def test_self_heal_execute_false_stays_observe(empty_yaml: Path) -> None:
    """SELF_HEAL_EXECUTE=false leaves the default observe mode."""
    settings, origins = load_settings(empty_yaml, environ={"SELF_HEAL_EXECUTE": "false"})
    assert settings.mode == "observe"
    assert origins["mode"] == "default"


def test_observe_only_wins_over_execute(empty_yaml: Path) -> None:
    """Both seed switches on: SELF_HEAL_OBSERVE_ONLY wins (the safer one)."""
    settings, origins = load_settings(
        empty_yaml, environ={"SELF_HEAL_EXECUTE": "true", "SELF_HEAL_OBSERVE_ONLY": "true"}
    )
    assert settings.mode == "observe"
    assert origins["mode"] == "env SELF_HEAL_OBSERVE_ONLY"


def test_observe_only_false_lets_execute_through(empty_yaml: Path) -> None:
    """SELF_HEAL_OBSERVE_ONLY=false does not veto SELF_HEAL_EXECUTE=true."""
    settings, origins = load_settings(
        empty_yaml, environ={"SELF_HEAL_EXECUTE": "true", "SELF_HEAL_OBSERVE_ONLY": "false"}
    )
    assert settings.mode == "execute"
    assert origins["mode"] == "env SELF_HEAL_EXECUTE"


@pytest.mark.parametrize(
    ("grace_mode", "expected"), [("observe", "observe"), ("execute", "execute")]
)
def test_grace_mode_beats_both_seed_switches(
    empty_yaml: Path, grace_mode: str, expected: str
) -> None:
    """GRACE_MODE is Grace's own variable: it wins over either seed switch."""
    environ = {
        "GRACE_MODE": grace_mode,
        "SELF_HEAL_EXECUTE": "true" if grace_mode == "observe" else "false",
        "SELF_HEAL_OBSERVE_ONLY": "true" if grace_mode == "execute" else "false",
    }
    settings, origins = load_settings(empty_yaml, environ=environ)
    assert settings.mode == expected
    assert origins["mode"] == "env GRACE_MODE"


def test_seed_switch_beats_grace_yaml(tmp_path: Path) -> None:
    """Environment over file: SELF_HEAL_OBSERVE_ONLY=true beats ``mode: execute`` in grace.yaml."""
    path = _yaml(tmp_path, "mode: execute\n")
    settings, origins = load_settings(path, environ={"SELF_HEAL_OBSERVE_ONLY": "true"})
    assert settings.mode == "observe"
    assert origins["mode"] == "env SELF_HEAL_OBSERVE_ONLY"
    settings, origins = load_settings(path, environ={})
    assert settings.mode == "execute"
    assert origins["mode"] == f"{path}:1"


@pytest.mark.parametrize("name", ["SELF_HEAL_EXECUTE", "SELF_HEAL_OBSERVE_ONLY"])
def test_bad_boolean_names_the_variable(empty_yaml: Path, name: str) -> None:
    """A value that is not a boolean fails with the variable's name and how to fix it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(empty_yaml, environ={name: "maybe"})
    assert str(caught.value) == f"{name}='maybe' is not a boolean"
    assert caught.value.hint == f"set {name}=true or {name}=false"


def test_governance_block_loads(tmp_path: Path) -> None:
    """A full governance block: durations in words, a policy override, windows and a freeze."""
    path = _yaml(
        tmp_path,
        """
        mode: execute
        governance:
          cooldown: 5m
          dedupe_window: 90s
          attempts_window: 2h
          max_attempts: 5
          max_event_age: 15m
          inhibit: false
          escalation_webhook: http://127.0.0.1:9/hook
          policy:
            quorum: 3
            overrides:
              - playbook: restart_api
                decision: execute
              - risk: high
                tier: 3
                decision: require_approval
          change_windows:
            timezone: Europe/Paris
            windows:
              - days: [sat, sun]
                start: "08:00"
                end: "12:30"
            freezes:
              - start: 2026-12-20T00:00:00+01:00
                end: 2027-01-04T00:00:00+01:00
                reason: year-end freeze
        """,
    )
    settings, origins = load_settings(path, environ={})
    gov = settings.governance
    assert origins["governance"] == f"{path}:3"
    assert gov.cooldown == 300.0
    assert gov.dedupe_window == 90.0
    assert gov.attempts_window == 7200.0
    assert gov.max_attempts == 5
    assert gov.max_event_age == 900.0
    assert gov.inhibit is False
    assert str(gov.escalation_webhook) == "http://127.0.0.1:9/hook"
    # Untouched knobs keep their defaults.
    assert gov.circuit_open_for == 3600.0
    assert gov.approval_ttl == 3600.0
    assert gov.policy.quorum == 3
    assert [(o.playbook, o.risk, o.tier, o.decision) for o in gov.policy.overrides] == [
        ("restart_api", None, None, PolicyAction.EXECUTE),
        (None, "high", 3, PolicyAction.REQUIRE_APPROVAL),
    ]
    windows = gov.change_windows
    assert windows.enabled is True
    assert windows.timezone == "Europe/Paris"
    assert [(w.days, w.start, w.end) for w in windows.windows] == [
        (["sat", "sun"], time(8, 0), time(12, 30))
    ]
    assert len(windows.freezes) == 1
    assert windows.freezes[0].reason == "year-end freeze"
    assert windows.freezes[0].start.isoformat() == "2026-12-20T00:00:00+01:00"


def test_governance_defaults_without_a_block(empty_yaml: Path) -> None:
    """No governance block: the documented safe defaults."""
    settings, origins = load_settings(empty_yaml, environ={})
    gov = settings.governance
    assert origins["governance"] == "default"
    assert (gov.dedupe_window, gov.cooldown, gov.max_attempts, gov.max_event_age) == (
        60.0,
        120.0,
        3,
        900.0,
    )
    assert gov.change_windows.enabled is True
    assert gov.escalation_webhook is None


@pytest.mark.parametrize(
    ("block", "dotted"),
    [
        pytest.param("cooldown: soon", "governance.cooldown", id="duration"),
        pytest.param("max_attempts: 0", "governance.max_attempts", id="bound"),
        pytest.param("cooldwon: 5m", "governance.cooldwon", id="unknown-key"),
        pytest.param("policy: {quorum: 1}", "governance.policy.quorum", id="policy"),
        pytest.param(
            "change_windows: {timezone: Mars/Olympus}",
            "governance.change_windows.timezone",
            id="timezone",
        ),
        pytest.param(
            "change_windows: {windows: [{start: '25:00'}]}",
            "governance.change_windows.windows.0.start",
            id="window-time",
        ),
    ],
)
def test_bad_nested_value_names_its_dotted_path(tmp_path: Path, block: str, dotted: str) -> None:
    """A bad value deep in the governance block: the message names its dotted path and the file."""
    path = _yaml(tmp_path, f"mode: execute\ngovernance:\n  {block}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"setting '{dotted}' (from {path}:2) is invalid: "), message
    assert caught.value.hint == "fix the value where it was set"
