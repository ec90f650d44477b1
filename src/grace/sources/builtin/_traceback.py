"""Python tracebacks in a log: group their lines, then parse type, message, frames and chain.

:class:`TracebackCollector` is fed one line at a time (across read chunks) and says where the
traceback ends; :func:`parse_traceback` turns the collected lines into attributes. Both are
pure: no I/O, no clock (the caller passes monotonic times).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = (
    "HEADER",
    "TRACEBACK_FIELDS",
    "TracebackCollector",
    "TracebackInfo",
    "is_traceback_start",
    "parse_traceback",
)

HEADER: Final = "Traceback (most recent call last):"
_HEADER_BYTES: Final = HEADER.encode()
_CONTEXT: Final = "During handling of the above exception, another exception occurred:"
_CAUSE: Final = "The above exception was the direct cause of the following exception:"
_RELATIONS: Final = {_CONTEXT: "context", _CAUSE: "cause"}

TRACEBACK_FIELDS: Final = ("exception", "exc_info", "exc_text", "traceback", "stack_trace", "stack")
"""JSON-line fields that may hold a formatted traceback (structlog, python-json-logger…)."""

MAX_LINES: Final = 2000
"""A traceback longer than this is cut: the lines after it are read as ordinary lines."""
MAX_CHARS: Final = 512 * 1024
MAX_FRAMES: Final = 100
"""Frames kept in ``frames`` (the innermost ones; ``frames_omitted`` counts the rest)."""
MAX_TEXT: Final = 16 * 1024
"""Characters of the ``traceback`` attribute (head and tail kept)."""

_FRAME: Final = re.compile(
    r'^\s+File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<function>.*))?'
)
_EXC_LINE: Final = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<message>.*))?)?$")


def is_traceback_start(line: bytes) -> bool:
    """Whether a raw line opens a Python traceback."""
    return line.startswith(_HEADER_BYTES)


class TracebackCollector:
    """The lines of one traceback being read: header, frames, the exception line, chains.

    Python prints (and ``logging`` writes) a traceback as a header, indented frame lines and
    one unindented ``Type: message`` line; a chained exception follows after a blank line and
    a ``During handling…``/``The above exception…`` line. The collector cannot know a
    traceback is over until it sees the next line (or the file stays quiet): the caller asks
    :meth:`feed` for every following line and ends the group when it returns False.
    """

    __slots__ = ("chars", "last_fed", "lines", "offset", "state")

    def __init__(self, header: str, *, offset: int, now: float) -> None:
        self.lines: list[str] = [header]
        self.offset = offset
        """Byte offset of the header line: the event's offset and key."""
        self.chars = len(header)
        self.state = "frames"
        self.last_fed = now
        """Monotonic time of the last line fed (a quiet file ends the traceback)."""

    @property
    def complete(self) -> bool:
        """True once the exception line was seen (more may still follow: a chain)."""
        return self.state != "frames"

    def feed(self, line: str, *, now: float) -> bool:
        """Offer the next line: True when it belongs to the traceback, False when it ends it.

        A line refused with False is not part of the traceback; the caller reads it as an
        ordinary line.
        """
        if len(self.lines) >= MAX_LINES or self.chars >= MAX_CHARS:
            return False
        state = self.state
        blank = not line.strip()
        if state == "frames":
            if blank or line.startswith(HEADER):
                return False
            if not line[0].isspace():
                self.state = "exception"
        elif state in ("exception", "blank"):
            if blank:
                self.state = "blank"
            elif state == "blank" and line.rstrip() in _RELATIONS:
                self.state = "chain"
            else:
                return False
        elif blank:  # "chain": the blank line before the next header
            pass
        elif line.startswith(HEADER):
            self.state = "frames"
        else:
            return False
        self.lines.append(line)
        self.chars += len(line)
        self.last_fed = now
        return True


@dataclass(frozen=True, slots=True)
class TracebackInfo:
    """What a traceback says."""

    exception_type: str
    """``ModuleNotFoundError``, ``requests.exceptions.ConnectionError``; empty if cut short."""
    exception_message: str
    frames: list[dict[str, Any]]
    """The final exception's frames, outermost first: ``{file, line, function}``."""
    text: str
    """The whole traceback (capped at :data:`MAX_TEXT` characters)."""
    chain: list[dict[str, Any]] = field(default_factory=list)
    """Earlier exceptions, oldest first; ``relation`` says how the next one relates to each
    (``cause``: ``raise … from``; ``context``: raised while handling it)."""
    frames_omitted: int = 0

    @property
    def summary(self) -> str:
        """The exception line: ``ModuleNotFoundError: No module named 'faiss'``."""
        if not self.exception_type:
            return self.exception_message or "Traceback (incomplete)"
        if not self.exception_message:
            return self.exception_type
        return f"{self.exception_type}: {self.exception_message}"

    def attributes(self) -> dict[str, Any]:
        """The event attributes: type, message, frames, traceback text, chain."""
        attrs: dict[str, Any] = {
            "exception_type": self.exception_type,
            "exception_message": self.exception_message,
            "frames": self.frames,
            "traceback": self.text,
        }
        if self.chain:
            attrs["chain"] = self.chain
        if self.frames_omitted:
            attrs["frames_omitted"] = self.frames_omitted
        return attrs


def parse_traceback(lines: list[str]) -> TracebackInfo:
    """Parse a traceback's lines (as collected, or a JSON field's text split in lines)."""
    segments: list[tuple[str, list[dict[str, Any]], str, str]] = []
    relation = linked = ""  # the separator just read; the one before the current segment
    frames: list[dict[str, Any]] = []
    exc_line: str | None = None
    started = False
    for line in lines:
        stripped = line.rstrip()
        if stripped.startswith(HEADER):
            if started:
                segments.append((linked, frames, *_split_exception(exc_line)))
            started, frames, exc_line, linked = True, [], None, relation
            continue
        if stripped in _RELATIONS:
            relation = _RELATIONS[stripped]
            continue
        if not started or not stripped:
            continue
        frame = _FRAME.match(line)
        if frame is not None:
            frames.append(
                {
                    "file": frame["file"],
                    "line": int(frame["line"]),
                    "function": frame["function"] or "",
                }
            )
        elif exc_line is None and not line[0].isspace():
            exc_line = stripped
    segments.append((linked, frames, *_split_exception(exc_line)))
    chain = [
        {"exception_type": s[2], "exception_message": s[3], "relation": nxt[0]}
        for s, nxt in itertools.pairwise(segments)
    ]
    _, last_frames, exc_type, exc_message = segments[-1]
    omitted = max(0, len(last_frames) - MAX_FRAMES)
    return TracebackInfo(
        exception_type=exc_type,
        exception_message=exc_message,
        frames=last_frames[omitted:],
        text=_cap("\n".join(lines)),
        chain=chain,
        frames_omitted=omitted,
    )


def _split_exception(line: str | None) -> tuple[str, str]:
    if line is None:
        return "", ""
    found = _EXC_LINE.match(line)
    if found is None:
        return "", line
    return found["type"], found["message"] or ""


def _cap(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    head = MAX_TEXT // 4
    tail = MAX_TEXT - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[-tail:]}"
