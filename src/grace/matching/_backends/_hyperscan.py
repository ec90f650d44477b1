"""The hyperscan engine: one block-mode database, scanned over whole buffers.

No Python runs per line: hyperscan reports each match's *end* offset (no start-of-match
tracking, which would slow it down), and the matcher maps those few offsets to lines. The
byte-regex translations are compiled MULTILINE in prefilter mode (hyperscan may approximate,
never miss); no UTF-8 mode, so any bytes are safe to scan. Patterns hyperscan refuses are
found by bisection (its error does not say which), retried without their ``^``/``$``, and
otherwise left to ``re``. Each thread scans with its own scratch space.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from grace.matching import _cache
from grace.matching._backends.base import Candidate
from grace.matching._translate import Superset

__all__ = ("HyperscanBackend",)


def _on_end(pid: int, _start: int, end: int, _flags: int, found: list[tuple[int, int]]) -> None:
    # A named function, passed with a context list: hyperscan 0.9.1 crashes on inline lambdas.
    found.append((pid, end))


class HyperscanBackend:
    """Superset regexes in one hyperscan database."""

    def __init__(self, patterns: Sequence[tuple[int, Superset]], *, cache_dir: Path | None) -> None:
        """Compile ``(pattern_id, superset)`` pairs, or load their database from the cache.

        Raises:
            ImportError: hyperscan is not installed.
            RuntimeError: hyperscan refused the set as a whole.
        """
        hs: Any = importlib.import_module("hyperscan")
        self._hs = hs
        self.flags = hs.HS_FLAG_MULTILINE | hs.HS_FLAG_PREFILTER
        expressions = [(pid, sup.spanning.encode()) for pid, sup in patterns]
        key = _cache.cache_key(hs.__version__, self.flags, expressions)
        loaded = self._load(cache_dir, key) if cache_dir is not None else None
        if loaded is None:
            loose = {pid: sup.loose.encode() for pid, sup in patterns}
            database, rejected = self._compile(expressions, loose)
            if cache_dir is not None and database is not None:
                blob = hs.dumpb(database)
                _cache.store(cache_dir, key, _cache.CachedDatabase(blob, tuple(sorted(rejected))))
        else:
            database, rejected = loaded
        self._db = database
        self._accepted = frozenset(pid for pid, _ in expressions) - rejected
        self._local = threading.local()

    def _load(self, cache_dir: Path, key: str) -> tuple[Any, frozenset[int]] | None:
        cached = _cache.load(cache_dir, key)
        if cached is None:
            return None
        try:
            database = self._hs.loadb(cached.blob, self._hs.HS_MODE_BLOCK)
        except self._hs.error:
            return None
        return database, frozenset(cached.rejected)

    def _compile(
        self, expressions: list[tuple[int, bytes]], loose: dict[int, bytes]
    ) -> tuple[Any, frozenset[int]]:
        """Compile; find refused patterns by bisection, retry them without anchors, or drop them."""
        if not expressions:
            return None, frozenset()
        database = self._try(expressions)
        if database is not None:
            return database, frozenset()
        refused = self._refused(expressions)
        kept = [e for e in expressions if e[0] not in refused]
        rejected: set[int] = set()
        for pid in sorted(refused):
            retry = (pid, loose[pid])
            if self._try([retry]) is not None:
                kept.append(retry)
            else:
                rejected.add(pid)
        database = self._try(kept) if kept else None
        if kept and database is None:
            msg = f"hyperscan refused a set of {len(kept)} patterns that each compile alone"
            raise RuntimeError(msg)
        return database, frozenset(rejected)

    def _try(self, expressions: list[tuple[int, bytes]]) -> Any:
        database = self._hs.Database(mode=self._hs.HS_MODE_BLOCK)
        try:
            database.compile(
                expressions=[expr for _, expr in expressions],
                ids=[pid for pid, _ in expressions],
                elements=len(expressions),
                flags=self.flags,
            )
        except self._hs.error:
            return None
        return database

    def _refused(self, expressions: list[tuple[int, bytes]]) -> set[int]:
        """Ids of the patterns hyperscan refuses, in a set known to fail (bisection)."""
        if len(expressions) == 1:
            return {expressions[0][0]}
        half = len(expressions) // 2
        refused: set[int] = set()
        for part in (expressions[:half], expressions[half:]):
            if self._try(part) is None:
                refused |= self._refused(part)
        return refused

    @property
    def name(self) -> str:
        """``hyperscan``."""
        return "hyperscan"

    @property
    def accepted(self) -> frozenset[int]:
        """Ids in the database."""
        return self._accepted

    @property
    def prefilters_messages(self) -> bool:
        """Yes: one scan replaces a check per pattern."""
        return True

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        return scratch

    def _scan(self, data: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        if self._db is not None:
            self._db.scan(data, match_event_handler=_on_end, context=found, scratch=self._scratch())
        return found

    def search(self, data: bytes) -> Collection[int]:
        """Ids whose superset matches in ``data``."""
        found = self._scan(data)
        return {pid for pid, _ in found} if found else ()

    def candidates(self, buffer: bytes) -> list[Candidate]:
        """One candidate per reported end offset: the line holding the match's last byte."""
        return [(end - 1, end - 1, pid) for pid, end in self._scan(buffer)]
