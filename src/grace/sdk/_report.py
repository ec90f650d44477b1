"""Reports: an exception or a message, as the event JSON Grace's ``POST /api/events`` accepts.

Built in the caller's thread (the traceback is only complete there) and bounded in size, so
one report never exceeds what the API accepts.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

__all__ = (
    "MAX_FRAMES",
    "MAX_MESSAGE",
    "MAX_TRACEBACK",
    "SDK_VERSION",
    "envelope",
    "exception_event",
    "message_event",
)

SDK_VERSION = "0.1.0"
MAX_MESSAGE = 4096
"""Characters of a message kept (the rest is cut, with a marker)."""
MAX_TRACEBACK = 32 * 1024
"""Characters of traceback text kept: the end, where the failure is."""
MAX_FRAMES = 50
"""Innermost frames kept."""
_MAX_ATTRIBUTES_JSON = 256 * 1024
"""Caller attributes larger than this (as JSON) are replaced by a note."""
_REPORTED = "__grace_sdk_reported__"

SEVERITIES = ("debug", "info", "warning", "error", "critical")


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The wire body: the event and a fresh key, unique per report and kept across resends."""
    return {"event": event, "event_key": uuid.uuid4().hex}


def already_reported(exc: BaseException) -> bool:
    """True when this exception object was reported before (logged, then re-raised)."""
    return bool(getattr(exc, _REPORTED, False))


def mark_reported(exc: BaseException) -> None:
    """Remember that ``exc`` was reported, so a second hook does not report it again."""
    # Exceptions with __slots__ cannot be marked.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _REPORTED, True)


def exception_event(
    exc: BaseException,
    *,
    service: str,
    severity: str = "error",
    attributes: dict[str, Any] | None = None,
    tb: TracebackType | None = None,
    hook: str = "report_exception",
) -> dict[str, Any]:
    """The ``exception`` event for ``exc`` (its traceback, frames, chain and process details)."""
    tb = tb if tb is not None else exc.__traceback__
    kind = type(exc)
    type_name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        type_name = f"{kind.__module__}.{type_name}"
    text = _cut(str(exc), MAX_MESSAGE)
    lines = traceback.format_exception(kind, exc, tb)
    attrs: dict[str, Any] = {
        "exception_type": kind.__name__,
        "exception_qualname": type_name,
        "exception_message": text,
        "traceback": _tail("".join(lines), MAX_TRACEBACK),
        "frames": _frames(tb),
        "chain": [type(e).__name__ for e in _chain(exc)],
        "handled": hook in ("report_exception", "logging"),
        "hook": hook,
    }
    module = _missing_module(exc)
    if module is not None:
        attrs["module"] = module
    attrs.update(_process())
    attrs.update(_bounded(attributes))
    message = f"{kind.__name__}: {text}" if text else kind.__name__
    return _event("exception", service, severity, message, attrs)


def message_event(
    message: str,
    *,
    service: str,
    kind: str = "log",
    severity: str = "error",
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event with a message (a log line, a custom signal)."""
    attrs: dict[str, Any] = dict(_process())
    attrs.update(_bounded(attributes))
    return _event(kind, service, severity, _cut(message, MAX_MESSAGE), attrs)


def _event(
    kind: str, service: str, severity: str, message: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    if severity not in SEVERITIES:
        severity = "error"
    millis = int(time.time() * 1000)
    return {
        "id": f"evt_{millis:012x}{os.urandom(5).hex()}",
        "time": datetime.fromtimestamp(millis / 1000, UTC).isoformat(),
        "source": f"sdk:{service}",
        "kind": kind,
        "service": service,
        "severity": severity,
        "message": message,
        "attributes": attributes,
    }


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (cycles cut)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in out) and len(out) < 20:
        out.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return out


def _missing_module(exc: BaseException) -> str | None:
    """The module an ImportError (anywhere in the chain) could not import: ``exc.name``."""
    for link in _chain(exc):
        if isinstance(link, ImportError) and link.name:
            return link.name
    return None


def _frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:] if tb is not None else []
    return [
        {
            "file": f.filename,
            "line": f.lineno,
            "function": f.name,
            "code": _cut(f.line or "", 300),
        }
        for f in frames
    ]


_PROCESS: dict[str, Any] = {}


def _process() -> dict[str, Any]:
    if not _PROCESS or _PROCESS.get("pid") != os.getpid():
        v = sys.version_info
        _PROCESS.update(
            host=socket.gethostname(),
            pid=os.getpid(),
            python=f"{v.major}.{v.minor}.{v.micro}",
            program=os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "",
            sdk_version=SDK_VERSION,
        )
    return dict(_PROCESS)


def _bounded(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """Caller attributes made JSON-safe (``repr`` for the rest) and bounded in size."""
    if not attributes:
        return {}
    text = json.dumps(attributes, default=repr)
    if len(text) > _MAX_ATTRIBUTES_JSON:
        return {"attributes_dropped": f"{len(text)} bytes of attributes, over the SDK's limit"}
    safe: dict[str, Any] = json.loads(text)
    return safe


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + f" … [{len(text)} chars]"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"[… {len(text) - limit} chars cut]\n" + text[-limit:]
