"""What the matcher matches: :class:`Trigger`, the one kind table, and ``triggers_of``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from grace.events import SEVERITIES

if TYPE_CHECKING:
    from grace.playbooks import Playbook

__all__ = ("PRIORITIES", "TRIGGER_KINDS", "Trigger", "order_key", "triggers_of")

TRIGGER_KINDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "log_message": frozenset({"log", "exception"}),
        "exception": frozenset({"exception"}),
        "api_error": frozenset({"api_error"}),
        "health": frozenset({"health"}),
        "heartbeat": frozenset({"heartbeat"}),
        "metric": frozenset({"metric"}),
        "alert": frozenset({"webhook"}),
        "scheduled": frozenset({"scheduled"}),
        "manual": frozenset(),
    }
)
"""Trigger type → the event kinds it can match: the one table (``docs/matching.md``).

Extra rules on top of the kind: a ``metric`` trigger fires only when
``attributes["metric"]`` is its metric and ``float(attributes["value"])`` reaches its
threshold; a ``scheduled`` trigger only on a scheduled event whose ``attributes["playbook"]``
is its playbook; a ``manual`` trigger never fires from an event (runs start through the API).
"""

PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
"""Playbook priorities, strongest first: results are ordered by them."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger of one playbook, flattened for matching."""

    playbook: str
    """Name of the playbook it wakes."""
    index: int
    """Position in the playbook's ``triggers:`` list (0-based, as in ``triggers.1.pattern``)."""
    type: str
    """Trigger type, a key of :data:`TRIGGER_KINDS`."""
    pattern: str | None
    """Python regex searched in the event message (``re.MULTILINE``); None matches any message."""
    severity: str | None
    """Lowest event severity that fires it; None for any."""
    service: str | None
    """Only events of this service; None for any."""
    priority: str = "medium"
    """The playbook's priority (``high`` | ``medium`` | ``low``); orders competing matches."""
    metric: str | None = None
    """For ``metric`` triggers: the metric's name."""
    threshold: float | None = None
    """For ``metric`` triggers: fire at or above this value; None for any value."""

    def __post_init__(self) -> None:
        if self.type not in TRIGGER_KINDS:
            msg = f"trigger {self.playbook}[{self.index}]: unknown type {self.type!r}; one of {', '.join(TRIGGER_KINDS)}"
            raise ValueError(msg)
        if self.severity is not None and self.severity not in SEVERITIES:
            msg = f"trigger {self.playbook}[{self.index}]: unknown severity {self.severity!r}; one of {', '.join(SEVERITIES)}"
            raise ValueError(msg)
        if self.priority not in PRIORITIES:
            msg = f"trigger {self.playbook}[{self.index}]: unknown priority {self.priority!r}; one of {', '.join(PRIORITIES)}"
            raise ValueError(msg)

    @property
    def kinds(self) -> frozenset[str]:
        """The event kinds this trigger can match (:data:`TRIGGER_KINDS`)."""
        return TRIGGER_KINDS[self.type]

    @property
    def label(self) -> str:
        """``playbook[index]``, for messages."""
        return f"{self.playbook}[{self.index}]"


def order_key(trigger: Trigger) -> tuple[int, str, int]:
    """Result order: priority high → low, then playbook name, then trigger index."""
    return (PRIORITIES.index(trigger.priority), trigger.playbook, trigger.index)


def triggers_of(playbook: Playbook) -> list[Trigger]:
    """The matchable triggers of a loaded playbook, in file order.

    ``manual`` triggers are left out (no event fires them). ``scheduled`` triggers are kept:
    they never enter the pattern database, but the scheduler's event for this playbook
    matches them through the kind table, so a timed run flows through the matcher too. Playbooks with ``auto_trigger: false`` keep their triggers too; whether a
    match may start a run is the governor's decision, not the matcher's.
    """
    spec = playbook.spec
    return [
        Trigger(
            playbook=spec.name,
            index=index,
            type=t.type,
            pattern=t.pattern,
            severity=t.severity,
            service=t.service,
            priority=spec.priority,
            metric=t.metric,
            threshold=t.threshold,
        )
        for index, t in enumerate(spec.triggers)
        if t.type != "manual"
    ]
