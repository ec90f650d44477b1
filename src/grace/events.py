"""The one event model every source produces and every matcher reads."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

__all__ = (
    "EVENT_KINDS",
    "SEVERITIES",
    "Event",
    "EventKind",
    "Severity",
    "event_from_dict",
    "read_event",
    "severity_rank",
)

EventKind = Literal[
    "exception",
    "log",
    "api_error",
    "health",
    "heartbeat",
    "metric",
    "scheduled",
    "manual",
    "webhook",
]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

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


def event_from_dict(data: Any, *, where: str = "event") -> Event:
    """An :class:`Event` from its JSON form; missing ``id``/``time`` get defaults.

    Raises:
        ConfigError: the data is not a valid event; the message names the field and ``where``.
    """
    import os
    from datetime import UTC

    from grace.errors import ConfigError

    if not isinstance(data, dict):
        msg = f"{where}: an event must be a JSON object, got {type(data).__name__}"
        raise ConfigError(msg)
    known = {"id", "time", "source", "kind", "service", "severity", "message", "attributes"}
    unknown = sorted(set(data) - known)
    if unknown:
        msg = f"{where}: unknown event field(s) {', '.join(unknown)}"
        raise ConfigError(
            msg,
            hint=f"event fields are {', '.join(sorted(known))}; put anything else under 'attributes'",
        )
    kind = data.get("kind", "manual")
    if kind not in EVENT_KINDS:
        msg = f"{where}: kind {kind!r} is not one of {', '.join(EVENT_KINDS)}"
        raise ConfigError(msg)
    severity = data.get("severity", "error")
    if severity not in SEVERITIES:
        msg = f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        raise ConfigError(msg)
    raw_time = data.get("time")
    try:
        when = (
            datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
            if raw_time
            else datetime.now(UTC)
        )
    except ValueError as exc:
        msg = f"{where}: time {raw_time!r} is not ISO-8601"
        raise ConfigError(msg) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        msg = f"{where}: attributes must be an object"
        raise ConfigError(msg)
    return Event(
        id=str(data.get("id") or f"evt_{os.urandom(8).hex()}"),
        time=when,
        source=str(data.get("source", "file")),
        kind=kind,
        service=str(data.get("service", "")),
        severity=severity,
        message=str(data.get("message", "")),
        attributes=attributes,
    )


def read_event(path: Any) -> Event:
    """Read one event from a JSON file (``grace execute --event-file``)."""
    import json
    from pathlib import Path

    from grace.errors import ConfigError

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{p}: cannot read the event: {exc}"
        raise ConfigError(msg, hint="the file must hold one JSON object") from exc
    return event_from_dict(data, where=str(p))
