"""Governance: whether, and how, a diagnosis becomes a run. An ordered chain of small guards.

The order (``_chain.py``): emergency stop, recovery signal, staleness, resolved episode,
``auto_trigger``, the open incident, silences, inhibition, dedupe window and cooldown, the
circuit breaker, throttles, the playbook's conditions, and last the ruling: the policy matrix
(risk x autonomy tier x mode) and the change window. Every verdict is an audit entry.

The package is lazy (PEP 562): ``grace.config`` imports the configuration models without
loading the guards (and through them Jinja2), so commands that only read settings stay light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grace.governance._chain import build_guards as build_guards
    from grace.governance._chain import context_flags as context_flags
    from grace.governance._config import GovernanceConfig as GovernanceConfig
    from grace.governance._governor import Governor as Governor
    from grace.governance._guards import auto_trigger as auto_trigger
    from grace.governance._guards import conditions as conditions
    from grace.governance._guards import make_episode_guard as make_episode_guard
    from grace.governance._guards import recovery_signal as recovery_signal
    from grace.governance._incident import GovernanceView as GovernanceView
    from grace.governance._incident import incident_key as incident_key
    from grace.governance._policy import PolicyAction as PolicyAction
    from grace.governance._policy import PolicyConfig as PolicyConfig
    from grace.governance._policy import matrix_rows as matrix_rows
    from grace.governance._policy import rule as rule
    from grace.governance._silences import Silence as Silence
    from grace.governance._silences import new_silence as new_silence
    from grace.governance._silences import parse_matcher as parse_matcher
    from grace.governance._verdict import Decision as Decision
    from grace.governance._verdict import DecisionKind as DecisionKind
    from grace.governance._verdict import Effects as Effects
    from grace.governance._verdict import Guard as Guard
    from grace.governance._verdict import GuardInput as GuardInput
    from grace.governance._verdict import Note as Note
    from grace.governance._verdict import Verdict as Verdict
    from grace.governance._windows import ChangeCalendar as ChangeCalendar
    from grace.governance._windows import ChangeWindowConfig as ChangeWindowConfig

_WHERE = {
    "ChangeCalendar": "grace.governance._windows",
    "ChangeWindowConfig": "grace.governance._windows",
    "Decision": "grace.governance._verdict",
    "DecisionKind": "grace.governance._verdict",
    "Effects": "grace.governance._verdict",
    "GovernanceConfig": "grace.governance._config",
    "GovernanceView": "grace.governance._incident",
    "Governor": "grace.governance._governor",
    "Guard": "grace.governance._verdict",
    "GuardInput": "grace.governance._verdict",
    "Note": "grace.governance._verdict",
    "PolicyAction": "grace.governance._policy",
    "PolicyConfig": "grace.governance._policy",
    "Silence": "grace.governance._silences",
    "Verdict": "grace.governance._verdict",
    "auto_trigger": "grace.governance._guards",
    "build_guards": "grace.governance._chain",
    "conditions": "grace.governance._guards",
    "context_flags": "grace.governance._chain",
    "incident_key": "grace.governance._incident",
    "make_episode_guard": "grace.governance._guards",
    "matrix_rows": "grace.governance._policy",
    "new_silence": "grace.governance._silences",
    "parse_matcher": "grace.governance._silences",
    "recovery_signal": "grace.governance._guards",
    "rule": "grace.governance._policy",
}

__all__ = (
    "ChangeCalendar",
    "ChangeWindowConfig",
    "Decision",
    "DecisionKind",
    "Effects",
    "GovernanceConfig",
    "GovernanceView",
    "Governor",
    "Guard",
    "GuardInput",
    "Note",
    "PolicyAction",
    "PolicyConfig",
    "Silence",
    "Verdict",
    "auto_trigger",
    "build_guards",
    "conditions",
    "context_flags",
    "incident_key",
    "make_episode_guard",
    "matrix_rows",
    "new_silence",
    "parse_matcher",
    "recovery_signal",
    "rule",
)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'grace.governance' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
