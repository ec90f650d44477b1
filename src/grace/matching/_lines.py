"""Lines of a scanned buffer: masking ``\\r\\n``, mapping candidates to lines, confirming them.

A buffer is split on ``\\n``; a final line without one is complete; a trailing ``\\r`` is not
part of its line. A line hits a pattern exactly when ``pattern.search(line)`` does, with the
line decoded as UTF-8 (invalid bytes replaced) and the pattern compiled ``re.MULTILINE``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grace.matching._backends.base import Candidate
from grace.matching._match import LineHit

__all__ = ("confirm_lines", "every_line", "mask_cr")

_CR = 0x0D
_LF = 0x0A


def mask_cr(buffer: bytes) -> bytes:
    """``\\r\\n`` → ``\\n\\n`` (and a final ``\\r`` → ``\\n``): same length, so offsets hold.

    Each CRLF line then ends right where its text ends, so ``$`` works in every engine; the
    extra empty line after it ("phantom") is recognised by the ``\\r`` before it in the
    original buffer and skipped.
    """
    if b"\r" not in buffer:
        return buffer
    masked = buffer.replace(b"\r\n", b"\n\n")
    if masked.endswith(b"\r"):
        masked = masked[:-1] + b"\n"
    return masked


def every_line(work: bytes, pattern_ids: Sequence[int]) -> list[Candidate]:
    """A candidate on every line for each of ``pattern_ids`` (patterns no engine can take)."""
    if not pattern_ids or not work:
        return []
    starts = [0, *(m.end() for m in re.finditer(b"\n", work))]
    if work[-1] == _LF:
        starts.pop()
    return [(start, start, pid) for pid in pattern_ids for start in starts]


def confirm_lines(
    buffer: bytes, work: bytes, candidates: list[Candidate], exact: Sequence[re.Pattern[str]]
) -> list[LineHit]:
    """Map candidates to lines of ``work`` and keep each pattern the line really matches.

    ``buffer`` is the original; ``work`` is ``mask_cr(buffer)``.
    """
    if not candidates:
        return []
    candidates.sort()
    size = len(work)
    closed = size == 0 or work[-1] == _LF
    lines: dict[int, tuple[int, set[int]]] = {}
    start = end = -1
    for first, last, pid in candidates:
        pos = first
        while True:
            if not start <= pos <= end:
                if pos >= size and closed:
                    break
                start = work.rfind(b"\n", 0, pos) + 1
                newline = work.find(b"\n", pos)
                end = size if newline < 0 else newline
            if not (start > 0 and buffer[start - 1] == _CR):
                entry = lines.get(start)
                if entry is None:
                    entry = lines[start] = (end, set())
                entry[1].add(pid)
            if end >= last:
                break
            pos = end + 1
    hits: list[LineHit] = []
    for line_start in sorted(lines):
        line_end, pids = lines[line_start]
        text = buffer[line_start:line_end].decode("utf-8", "replace")
        confirmed = tuple(pid for pid in sorted(pids) if exact[pid].search(text))
        if confirmed:
            hits.append(LineHit(line_start, line_end, confirmed))
    return hits
