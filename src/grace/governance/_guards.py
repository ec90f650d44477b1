"""The built-in guards, each small and alone testable. Order matters: the first objection wins."""

from __future__ import annotations

from collections.abc import Callable

from grace.errors import TemplateError
from grace.governance._verdict import DecisionKind, Guard, GuardInput, Verdict
from grace.playbooks import Templates
from grace.playbooks._names import template_names

__all__ = ("auto_trigger", "conditions", "make_episode_guard", "recovery_signal")

_templates = Templates()


def recovery_signal(inp: GuardInput) -> Verdict | None:
    """A "recovered" signal (a probe healthy again, a heartbeat resumed) never starts a repair."""
    if inp.trigger == "event" and inp.event.attributes.get("recovered") is True:
        return Verdict(DecisionKind.SUPPRESSED, "a recovery signal: the service is healthy again")
    return None


def auto_trigger(inp: GuardInput) -> Verdict | None:
    """A playbook with ``auto_trigger: false`` only runs when a human asks."""
    if inp.trigger == "event" and not inp.playbook.spec.metadata.auto_trigger:
        return Verdict(DecisionKind.BLOCKED, "auto_trigger is false: manual or API runs only")
    return None


def conditions(inp: GuardInput) -> Verdict | None:
    """Every playbook condition must hold for this event."""
    ctx = template_names(
        event=inp.event.to_dict(),
        captures=inp.captures,
        playbook=inp.playbook.name,
        config=inp.config,
        flags=inp.flags,
        vars=inp.vars,
        run={"playbook": inp.playbook.name, "dry_run": False, "service": inp.event.service},
        signature=inp.signature,
    )
    for i, cond in enumerate(inp.playbook.spec.conditions):
        where = inp.playbook.where(f"conditions.{i}.check")
        try:
            holds = _templates.test(cond.check, ctx, where=where)
        except TemplateError as exc:
            return Verdict(DecisionKind.BLOCKED, f"condition could not be evaluated: {exc}")
        if not holds:
            return Verdict(
                DecisionKind.BLOCKED, cond.reason or f"condition {cond.check!r} is false"
            )
    return None


def make_episode_guard(status_of: Callable[[str], str | None]) -> Guard:
    """A guard refusing signals of a resolved episode (``status_of(key)`` reads the rows)."""

    def episode_resolved(inp: GuardInput) -> Verdict | None:
        key = inp.event.attributes.get("episode")
        if isinstance(key, str) and status_of(key) == "resolved":
            return Verdict(DecisionKind.SUPPRESSED, f"episode {key} is resolved")
        return None

    return episode_resolved
