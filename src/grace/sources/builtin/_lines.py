"""One log line → one :class:`~grace.events.Event`: level detection and JSON lines.

Pure functions over bytes and strings (no I/O), so the rules are unit-tested line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from grace.events import Event, Severity
from grace.sources.builtin._traceback import TRACEBACK_FIELDS, parse_traceback

__all__ = ("LineEvents", "detect_severity", "severity_from_level")

_LEVELS: Final[dict[str, Severity]] = {
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "emerg": "critical",
    "alert": "critical",
    "error": "error",
    "err": "error",
    "warning": "warning",
    "warn": "warning",
    "notice": "info",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
}

# The first level token wins: ``INFO retry after error`` is info. Upper-case words anywhere,
# ``level=error`` (logfmt) and ``[error]`` (nginx, Apache) in any case.
_LEVEL_TOKEN: Final = re.compile(
    r"\b(?P<upper>CRITICAL|FATAL|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b"
    r"|\blevel[=:]\s*\"?(?P<kv>[A-Za-z]+)"
    r"|\[(?P<bracket>(?i:crit|critical|fatal|emerg|alert|error|err|warn|warning|notice|info|debug|trace))\]"
)
_EXCEPTION_NAME: Final = re.compile(r"\w+(?:Error|Exception)\b")

_MESSAGE_KEYS: Final = ("message", "msg", "event")
_LEVEL_KEYS: Final = ("level", "severity", "levelname")
_RESERVED: Final = ("file", "offset")


def severity_from_level(level: str) -> Severity | None:
    """Map a level name (``ERROR``, ``warn``, ``Fatal``…) to a severity; None when unknown."""
    return _LEVELS.get(level.strip().lower())


def detect_severity(text: str) -> Severity:
    """The severity a plain log line announces.

    The first level token decides (``CRITICAL``/``FATAL`` → critical, ``ERROR``/``ERR`` →
    error, ``WARN``/``WARNING`` → warning, ``INFO`` → info, ``DEBUG``/``TRACE`` → debug; also
    ``level=…`` and ``[…]`` in any case). Without one, a word ending in ``Error`` or
    ``Exception`` means error; anything else is info.
    """
    for found in _LEVEL_TOKEN.finditer(text):
        token = found.group("upper") or found.group("kv") or found.group("bracket") or ""
        severity = severity_from_level(token)
        if severity is not None:
            return severity
    if _EXCEPTION_NAME.search(text):
        return "error"
    return "info"


@dataclass(frozen=True, slots=True)
class LineEvents:
    """Builds the events of one log source from raw lines (bytes, without the newline)."""

    source: str
    """The event's ``source`` (the source's name)."""
    service: str
    """The configured service; empty lets a JSON line's ``service`` field decide."""
    json_mode: Literal["auto", "always", "never"]
    encoding_errors: str
    max_line_bytes: int
    new_id: Callable[[], str]
    """Returns a fresh event id."""
    now: Callable[[], Any]
    """Returns the current time (timezone-aware)."""

    def decode(self, raw: bytes) -> tuple[str, dict[str, Any]]:
        """The line as text (CR stripped, cut at ``max_line_bytes``) and the cut flags."""
        flags: dict[str, Any] = {}
        if len(raw) > self.max_line_bytes:
            flags = {"line_cut": True, "line_bytes": len(raw)}
            raw = raw[: self.max_line_bytes]
        text = raw.decode("utf-8", self.encoding_errors)
        if text.endswith("\r"):
            text = text[:-1]
        return text, flags

    def line(self, raw: bytes, *, file: str, offset: int, **extra: Any) -> Event | None:
        """The event for one line, or None for a blank line.

        Args:
            raw: The line's bytes without its newline.
            file: The path it was read from (an attribute).
            offset: The byte offset of its first byte in that file (an attribute).
            extra: More attributes (``line_partial=True`` for a final line without newline).
        """
        text, flags = self.decode(raw)
        if not text.strip():
            return None
        where = {"file": file, "offset": offset, **flags, **extra}
        if self.json_mode != "never":
            stripped = text.strip()
            if self.json_mode == "always" or (stripped[:1] == "{" and stripped[-1:] == "}"):
                parsed = _load_object(stripped)
                if parsed is not None:
                    return self._json_event(parsed, text, where)
                if self.json_mode == "always":
                    where["json_error"] = "not a JSON object"
        return self._event("log", text, detect_severity(text), self.service, where)

    def exception(self, lines: list[str], *, file: str, offset: int) -> Event:
        """The ``exception`` event for the lines of one (possibly chained) traceback."""
        info = parse_traceback(lines)
        attributes = {"file": file, "offset": offset, **info.attributes()}
        return self._event("exception", info.summary, "error", self.service, attributes)

    def _json_event(self, fields: dict[str, Any], text: str, where: dict[str, Any]) -> Event:
        message_key = next((k for k in _MESSAGE_KEYS if k in fields), None)
        level_key = next((k for k in _LEVEL_KEYS if isinstance(fields.get(k), str)), None)
        message = str(fields[message_key]) if message_key is not None else text
        severity = severity_from_level(fields[level_key]) if level_key is not None else None
        service = self.service
        if not service and isinstance(fields.get("service"), str):
            service = fields["service"]
        used = {
            message_key,
            level_key if severity is not None else None,
            "service" if service != self.service else None,
        }
        rest = {k: v for k, v in fields.items() if k not in used}
        for key in _RESERVED:
            if key in rest:
                rest[f"json_{key}"] = rest.pop(key)
        attributes = {**rest, **where, "json": True}
        trace = next(
            (v for k in TRACEBACK_FIELDS if isinstance(v := fields.get(k), str) and v), None
        )
        if trace is not None and "Traceback (most recent call last):" in trace:
            info = parse_traceback(trace.splitlines())
            attributes.update(info.attributes(), log_message=message)
            return self._event("exception", info.summary, severity or "error", service, attributes)
        return self._event(
            "log", message, severity or detect_severity(message), service, attributes
        )

    def _event(
        self,
        kind: Literal["log", "exception"],
        message: str,
        severity: Severity,
        service: str,
        attributes: dict[str, Any],
    ) -> Event:
        return Event(
            id=self.new_id(),
            time=self.now(),
            source=self.source,
            kind=kind,
            service=service,
            severity=severity,
            message=message,
            attributes=attributes,
        )


def _load_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
