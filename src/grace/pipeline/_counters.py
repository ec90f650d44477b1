"""What the pipeline counted. Nothing is dropped silently: every drop has a counter and a reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ("PipelineCounters",)


@dataclass
class PipelineCounters:
    """Counters of one pipeline (exported as metrics by the API issue)."""

    received: Counter[str] = field(default_factory=Counter)
    """Events accepted, by source."""
    duplicates: Counter[str] = field(default_factory=Counter)
    """Events already recorded (same source and key), by source."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Events dropped, by reason (stays empty: the queue applies back-pressure instead)."""
    matched: int = 0
    """Events that matched at least one playbook."""
    decisions: Counter[str] = field(default_factory=Counter)
    """Decisions by kind (queued, proposed, suppressed, blocked…)."""
    suppressed: Counter[str] = field(default_factory=Counter)
    """Suppressed diagnoses, by the guard that suppressed them (open_incident, silenced…)."""
    runs_finished: Counter[str] = field(default_factory=Counter)
    """Runs the workers finished, by final status."""
    queue_depth: int = 0
    """Events waiting for the matcher right now."""
    queue_full_waits: int = 0
    """How often a source had to wait because the queue was full (back-pressure, not loss)."""
    component_restarts: Counter[str] = field(default_factory=Counter)
    """In-process restarts by the healer watchdog, by component (docs/watchdog.md)."""

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "received": dict(self.received),
            "duplicates": dict(self.duplicates),
            "dropped": dict(self.dropped),
            "matched": self.matched,
            "decisions": dict(self.decisions),
            "suppressed": dict(self.suppressed),
            "runs_finished": dict(self.runs_finished),
            "queue_depth": self.queue_depth,
            "queue_full_waits": self.queue_full_waits,
            "component_restarts": dict(self.component_restarts),
        }
