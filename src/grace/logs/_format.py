"""One-line human rendering of a parsed log record (``grace logs`` without ``--json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from grace.logs._context import CORRELATION_IDS

__all__ = ("format_record",)

_RESET: Final = "\x1b[0m"
_DIM: Final = "\x1b[2m"
_BOLD: Final = "\x1b[1m"
_CYAN: Final = "\x1b[36m"
_LEVEL_COLORS: Final = {
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_FIXED: Final = frozenset(
    {"timestamp", "level", "subsystem", "event_type", "message", "exception", *CORRELATION_IDS}
)
_ID_LABELS: Final = {
    "run_id": "run",
    "playbook_id": "playbook",
    "step": "step",
    "event_id": "event",
    "request_id": "request",
    "verification_id": "verification",
}


def format_record(record: dict[str, Any], *, color: bool, traceback: bool = False) -> str:
    """Render a record as one line.

    The shape is ``HH:MM:SS.mmm LEVEL subsystem event_type message key=value…
    [run=… playbook=… step=…]``: the time is the record's UTC time, extra fields follow in
    the record's order (strings with spaces are JSON-quoted), and the correlation ids close
    the line. A record with a traceback ends with `` ! <last line of the traceback>``.

    Args:
        record: A parsed record, as :func:`iter_log_records` yields it. Missing fields are
            rendered as ``-``; nothing here raises on odd input.
        color: Add ANSI colours (level by severity, subsystem in cyan, event type in bold).
        traceback: Append the full traceback on the following lines (the result is then
            more than one line).

    Returns:
        The rendered text, without a trailing newline.
    """
    level = str(record.get("level", "-")).lower()
    parts = [
        _paint(_clock(record.get("timestamp")), _DIM, color),
        _paint(f"{level.upper():<7}", _LEVEL_COLORS.get(level, ""), color),
        _paint(str(record.get("subsystem", "-")), _CYAN, color),
        _paint(str(record.get("event_type", "-")), _BOLD, color),
        str(record.get("message", "")),
    ]
    parts += (f"{key}={_value(value)}" for key, value in record.items() if key not in _FIXED)
    ids = [f"{label}={record[key]}" for key, label in _ID_LABELS.items() if record.get(key)]
    if ids:
        parts.append(_paint(f"[{' '.join(ids)}]", _DIM, color))
    exception = record.get("exception")
    if exception:
        text = exception if isinstance(exception, str) else json.dumps(exception)
        lines = text.strip().splitlines() or [""]
        parts.append(_paint(f"! {lines[-1]}", _LEVEL_COLORS["error"], color))
        line = " ".join(part for part in parts if part)
        return f"{line}\n{text.rstrip()}" if traceback else line
    return " ".join(part for part in parts if part)


def _clock(timestamp: object) -> str:
    if not isinstance(timestamp, str):
        return "--:--:--.---"
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def _value(value: object) -> str:
    if isinstance(value, str):
        return (
            value
            if value and not any(ch.isspace() or ch in "\"'" for ch in value)
            else (json.dumps(value, ensure_ascii=False))
        )
    return json.dumps(value, ensure_ascii=False, default=str)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and style else text
