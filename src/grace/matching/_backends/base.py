"""The interface every prefilter engine implements."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, TypeAlias

__all__ = ("BACKEND_NAMES", "Backend", "Candidate")

BACKEND_NAMES: tuple[str, ...] = ("hyperscan", "re2", "re")
"""Engines in the order ``backend=None`` tries them."""

Candidate: TypeAlias = tuple[int, int, int]
"""``(first, last, pattern_id)``: the pattern may match on every line that holds a byte in
``first..last`` (inclusive; a line holds its own ``\\n``)."""


class Backend(Protocol):
    """A compiled set of superset patterns that proposes where the real ones may match."""

    @property
    def name(self) -> str:
        """``hyperscan``, ``re2`` or ``re``."""

    @property
    def accepted(self) -> frozenset[int]:
        """Pattern ids the engine compiled; the matcher checks the others with ``re``."""

    @property
    def prefilters_messages(self) -> bool:
        """Whether :meth:`search` is worth calling (false for ``re``: direct checks are as fast)."""

    def search(self, data: bytes) -> Collection[int]:
        """Accepted ids whose superset matches somewhere in ``data`` (valid UTF-8)."""

    def candidates(self, buffer: bytes) -> list[Candidate]:
        """Candidates in a newline-aligned, valid UTF-8 buffer (``\\r\\n`` already masked)."""
