"""The google-re2 engine: one ``re2.Set`` over newline-aligned windows.

``Set.Match`` says *which* patterns match a text but not where, so the buffer is scanned in
windows of about 4 KiB of whole lines (one call per window, not per line); only a window that
hits is split into its lines, each asked again. The DFA budget is raised well above RE2's
8 MiB default, which collapses to the slow engine with a few hundred patterns.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Sequence
from typing import Any

from grace.matching._backends.base import Candidate
from grace.matching._translate import Superset

__all__ = ("Re2Backend",)

WINDOW = 4096
"""Bytes per ``Set.Match`` call (rounded down to a line end)."""
MAX_MEM = 512 << 20
"""RE2's memory budget for the set (its DFA cache gets two thirds)."""


class Re2Backend:
    """Superset regexes in one RE2 set."""

    def __init__(self, patterns: Sequence[tuple[int, Superset]]) -> None:
        """Compile ``(pattern_id, superset)`` pairs; what RE2 refuses is left out.

        Raises:
            ImportError: google-re2 is not installed.
            RuntimeError: RE2 could not compile the set.
        """
        re2: Any = importlib.import_module("re2")
        options = re2.Options()
        options.max_mem = MAX_MEM
        options.log_errors = False
        options.encoding = re2.Options.Encoding.LATIN1  # the translations are byte regexes
        self._set = re2.Set.SearchSet(options)
        self._ids: list[int] = []
        for pid, sup in patterns:
            try:
                self._set.Add("(?m)" + sup.spanning)
            except re2.error:
                continue
            self._ids.append(pid)
        self._accepted = frozenset(self._ids)
        if self._ids:
            try:
                self._set.Compile()
            except re2.error as exc:
                msg = f"google-re2 could not compile {len(self._ids)} patterns: {exc}"
                raise RuntimeError(msg) from exc

    @property
    def name(self) -> str:
        """``re2``."""
        return "re2"

    @property
    def accepted(self) -> frozenset[int]:
        """Ids RE2 took (it refuses, e.g., repeats above 1000)."""
        return self._accepted

    @property
    def prefilters_messages(self) -> bool:
        """Yes: one set match replaces a check per pattern."""
        return True

    def search(self, data: bytes) -> Collection[int]:
        """Ids whose superset matches in ``data``."""
        if not self._ids:
            return ()
        found = self._set.Match(data)
        return [self._ids[i] for i in found] if found else ()

    def candidates(self, buffer: bytes) -> list[Candidate]:
        """Candidate lines: windows first, then the lines of each window that hits."""
        if not self._ids:
            return []
        view = memoryview(buffer)
        match = self._set.Match
        ids = self._ids
        found: list[Candidate] = []
        size = len(buffer)
        pos = 0
        while pos < size:
            stop = pos + WINDOW
            if stop >= size:
                end = size
            else:
                cut = buffer.rfind(b"\n", pos, stop)
                if cut < 0:
                    cut = buffer.find(b"\n", stop)
                end = size if cut < 0 else cut + 1
            if match(view[pos:end]):
                line = pos
                while line < end:
                    nl = buffer.find(b"\n", line, end)
                    line_end = end if nl < 0 else nl
                    hit = match(view[line:line_end])
                    if hit:
                        found.extend((line, line, ids[i]) for i in hit)
                    line = line_end + 1
            pos = end
        return found
