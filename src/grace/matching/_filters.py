"""The non-pattern filters of a trigger: kind, severity, service, and the metric/schedule rules.

:func:`passes` is the fast yes/no the matcher uses; :func:`checks` says the same in words for
``explain``. They sit side by side so they cannot drift apart (a test holds them equal).
"""

from __future__ import annotations

import math
from typing import Any

from grace.events import Event, severity_rank
from grace.matching._trigger import TRIGGER_KINDS, Trigger

__all__ = ("Check", "checks", "passes")

Check = tuple[bool, str]
"""``(passed, reason)``."""


def passes(trigger: Trigger, event: Event) -> bool:
    """All non-pattern filters hold (kind, severity, service, metric or schedule rule)."""
    if event.kind not in TRIGGER_KINDS[trigger.type]:
        return False
    if trigger.severity is not None and severity_rank(event.severity) < severity_rank(
        trigger.severity
    ):
        return False
    if trigger.service is not None and event.service != trigger.service:
        return False
    if trigger.type == "metric":
        return _metric_ok(trigger, event.attributes)
    if trigger.type == "scheduled":
        return event.attributes.get("playbook") == trigger.playbook
    return True


def _metric_ok(trigger: Trigger, attributes: dict[str, Any]) -> bool:
    if trigger.metric is not None and attributes.get("metric") != trigger.metric:
        return False
    if trigger.threshold is None:
        return True
    value = _number(attributes.get("value"))
    return value is not None and value >= trigger.threshold


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def checks(trigger: Trigger, event: Event) -> list[Check]:
    """Each non-pattern filter of ``trigger`` against ``event``, with its reason."""
    kinds = TRIGGER_KINDS[trigger.type]
    matches = ", ".join(sorted(kinds)) or "no event kind"
    found: list[Check] = [
        (True, f"event kind {event.kind!r} matches trigger type {trigger.type!r}")
        if event.kind in kinds
        else (
            False,
            f"event kind {event.kind!r} does not match trigger type {trigger.type!r} (it matches {matches})",
        )
    ]
    if trigger.severity is not None:
        if severity_rank(event.severity) >= severity_rank(trigger.severity):
            found.append(
                (True, f"severity {event.severity} meets the trigger's minimum {trigger.severity}")
            )
        else:
            found.append(
                (
                    False,
                    f"severity {event.severity} is below the trigger's minimum {trigger.severity}",
                )
            )
    if trigger.service is not None:
        if event.service == trigger.service:
            found.append((True, f"service {event.service!r} matches"))
        else:
            found.append((False, f"service {event.service!r} is not {trigger.service!r}"))
    if trigger.type == "metric":
        found.extend(_metric_checks(trigger, event.attributes))
    if trigger.type == "scheduled":
        named = event.attributes.get("playbook")
        if named == trigger.playbook:
            found.append((True, f"the scheduled event is for playbook {trigger.playbook!r}"))
        elif named is None:
            found.append((False, "the scheduled event names no playbook (attributes.playbook)"))
        else:
            found.append(
                (False, f"the scheduled event is for playbook {named!r}, not {trigger.playbook!r}")
            )
    return found


def _metric_checks(trigger: Trigger, attributes: dict[str, Any]) -> list[Check]:
    found: list[Check] = []
    metric = attributes.get("metric")
    if trigger.metric is not None:
        if metric == trigger.metric:
            found.append((True, f"metric {metric!r} matches"))
        elif metric is None:
            found.append((False, f"the event names no metric (expected {trigger.metric!r})"))
        else:
            found.append((False, f"metric {metric!r} is not {trigger.metric!r}"))
    if trigger.threshold is not None:
        raw = attributes.get("value")
        value = _number(raw)
        if value is None:
            found.append((False, f"value {raw!r} is not a number"))
        elif value >= trigger.threshold:
            found.append((True, f"value {value:g} reaches the threshold {trigger.threshold:g}"))
        else:
            found.append((False, f"value {value:g} is below the threshold {trigger.threshold:g}"))
    return found
