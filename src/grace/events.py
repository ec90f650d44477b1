"""The one event model every source produces and every matcher reads."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ("EVENT_KINDS", "SEVERITIES", "Event", "EventKind", "Severity", "severity_rank")

EventKind = Literal[
    "exception", "log", "api_error", "health", "heartbeat", "metric", "scheduled", "manual", "webhook"
]
EVENT_KINDS: tuple[str, ...] = (
    "exception", "log", "api_error", "health", "heartbeat", "metric", "scheduled", "manual", "webhook"
)
Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")

_VOLATILE = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-f]{8,}\b|\d+")


def severity_rank(severity: str) -> int:
    """Order of severities: debug 0 … critical 4 (unknown names rank as info)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return 1


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a watched service."""

    id: str
    """Unique id (``evt_…``)."""
    time: datetime
    """When it happened (timezone-aware UTC)."""
    source: str
    """Which source produced it (``log:/var/log/app.log``, ``manual``, ``webhook:alertmanager``)."""
    kind: EventKind
    """What sort of signal it is."""
    service: str = ""
    """The service it concerns; empty when unknown."""
    severity: Severity = "error"
    """How bad it is."""
    message: str = ""
    """The text triggers match against (a log line, an exception message)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Anything else the source knows (exception type, frames, labels, status code)."""

    def fingerprint(self) -> str:
        """A stable digest of what makes two events 'the same failure'.

        Numbers and hex ids are masked so that ``pid 4121`` and ``pid 4122`` agree.
        """
        basis = json.dumps(
            [self.kind, self.service, _VOLATILE.sub("#", self.message)], separators=(",", ":")
        )
        return hashlib.sha256(basis.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as used in templates (``event.message``) and in run records."""
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "source": self.source,
            "kind": self.kind,
            "service": self.service,
            "severity": self.severity,
            "message": self.message,
            "attributes": dict(self.attributes),
        }
