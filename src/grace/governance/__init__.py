"""Governance: whether, and how, a diagnosis becomes a run. An ordered chain of small guards."""

from __future__ import annotations

from grace.governance._governor import Governor as Governor
from grace.governance._guards import auto_trigger as auto_trigger
from grace.governance._guards import conditions as conditions
from grace.governance._guards import make_episode_guard as make_episode_guard
from grace.governance._guards import recovery_signal as recovery_signal
from grace.governance._verdict import Decision as Decision
from grace.governance._verdict import DecisionKind as DecisionKind
from grace.governance._verdict import Guard as Guard
from grace.governance._verdict import GuardInput as GuardInput
from grace.governance._verdict import Verdict as Verdict

__all__ = (
    "Decision",
    "DecisionKind",
    "Governor",
    "Guard",
    "GuardInput",
    "Verdict",
    "auto_trigger",
    "conditions",
    "make_episode_guard",
    "recovery_signal",
)
