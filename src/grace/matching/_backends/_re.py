"""The plain ``re`` engine: always available, the correctness fallback.

It scans a buffer once per pattern with the pattern's superset translation, a bytes regex
(``finditer`` over the whole buffer, in C), so the cost is one pass per pattern rather than
one Python call per line and pattern. The translations keep off ``\\n`` (``newlines=False``), so each
match lies within one line and is a candidate for it; a match inside a line is always found,
because the translation holds no assertion that could see past ``\\n`` but ``^``/``$``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from grace.matching._backends.base import Candidate
from grace.matching._translate import Superset

__all__ = ("ReBackend",)


class ReBackend:
    """Superset regexes run by ``re`` over whole buffers."""

    def __init__(self, patterns: Sequence[tuple[int, Superset]]) -> None:
        """Compile the line-bounded translations of ``(pattern_id, superset)`` pairs."""
        self._patterns = [
            (pid, re.compile(sup.line_bounded.encode(), re.MULTILINE)) for pid, sup in patterns
        ]
        self._accepted = frozenset(pid for pid, _ in patterns)

    @property
    def name(self) -> str:
        """``re``."""
        return "re"

    @property
    def accepted(self) -> frozenset[int]:
        """Every pattern given."""
        return self._accepted

    @property
    def prefilters_messages(self) -> bool:
        """No: checking a message with the real patterns costs the same."""
        return False

    def search(self, data: bytes) -> Collection[int]:
        """Every id: the line-bounded translations cannot prefilter a multi-line message."""
        return self._accepted

    def candidates(self, buffer: bytes) -> list[Candidate]:
        """One candidate per superset match: the line it lies in."""
        spans: list[Candidate] = []
        for pid, pattern in self._patterns:
            spans.extend((m.start(), m.start(), pid) for m in pattern.finditer(buffer))
        return spans
