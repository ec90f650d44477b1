"""The :class:`Matcher`: every trigger of every playbook in one multi-pattern matcher.

Three layers, the same for every engine:

1. the *engine* (hyperscan, RE2 or ``re``) runs superset translations of all patterns at once
   and proposes candidates: pattern ids for a message, ``(offset, pattern)`` for a buffer;
2. patterns the engine refused run through the ``re`` engine, and patterns no translation
   can prefilter (those matching the empty string) are tried on every line;
3. each candidate is confirmed with the trigger's own pattern (``re``, ``MULTILINE``), which
   alone decides, and gives the captures. Hence identical results whatever the engine.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from grace.errors import ConfigError
from grace.events import EVENT_KINDS, Event
from grace.matching._backends._hyperscan import HyperscanBackend
from grace.matching._backends._re import ReBackend
from grace.matching._backends._re2 import Re2Backend
from grace.matching._backends.base import BACKEND_NAMES, Backend
from grace.matching._explain import explain_trigger
from grace.matching._filters import passes
from grace.matching._lines import confirm_lines, every_line, mask_cr
from grace.matching._match import Explanation, LineHit, Match, signature
from grace.matching._translate import Superset, Untranslatable, superset
from grace.matching._trigger import TRIGGER_KINDS, Trigger, order_key

__all__ = ("Matcher",)

_DIRECT_LIMIT = 4
"""At most this many patterns to check for an event: skip the engine, run them directly."""
_INSTALL_HINT = "install the fast backends with: pip install 'grace[fast]'"

_COMPILED: weakref.WeakValueDictionary[str, re.Pattern[str]] = weakref.WeakValueDictionary()
"""Each pattern's ``re`` compilation, shared by the matchers alive (a daemon's line filter holds
every trigger of its main matcher again): built once, freed with the last matcher using it."""


@dataclass(frozen=True, slots=True)
class _KindIndex:
    """The triggers an event kind can reach."""

    patternless: tuple[int, ...]
    """Positions of triggers without a pattern."""
    by_pattern: dict[int, tuple[int, ...]]
    """Pattern id → positions of the triggers using it."""
    pattern_ids: frozenset[int]
    """Every pattern id reachable from this kind."""
    direct: tuple[int, ...]
    """Those the engine does not hold: always checked with ``re``."""


class Matcher:
    """All triggers compiled into one matcher. Pure: no I/O (but the optional cache), no clock.

    Args:
        triggers: what to match, typically ``triggers_of`` over every loaded playbook.
        backend: ``"hyperscan"``, ``"re2"`` or ``"re"``; None takes the first that imports
            (in that order). Every engine gives the same results.
        cache_dir: where to keep compiled hyperscan databases between starts.

    Raises:
        ConfigError: a pattern is not a valid regex, the backend is unknown, or a forced
            backend is not installed.
    """

    def __init__(
        self,
        triggers: Sequence[Trigger],
        *,
        backend: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._triggers = tuple(triggers)
        self._rank = _ranks(self._triggers)
        sources: list[str] = []
        self._pattern_of: list[int | None] = []
        ids: dict[str, int] = {}
        for trigger in self._triggers:
            if trigger.pattern is None:
                self._pattern_of.append(None)
                continue
            if trigger.pattern not in ids:
                ids[trigger.pattern] = len(sources)
                sources.append(trigger.pattern)
            self._pattern_of.append(ids[trigger.pattern])
        self._patterns = tuple(sources)
        self._exact = tuple(_compile(source, self._triggers) for source in sources)
        self._engine, self._fallback, self._per_line = _build(sources, backend, cache_dir)
        self._direct = frozenset(range(len(sources))) - self._engine.accepted
        self._kinds = self._index_kinds()

    # -- what it holds ----------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The engine in use: ``hyperscan``, ``re2`` or ``re``."""
        return self._engine.name

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        """The triggers, as given."""
        return self._triggers

    @property
    def patterns(self) -> tuple[str, ...]:
        """The distinct patterns; ``LineHit.pattern_ids`` index this tuple."""
        return self._patterns

    @property
    def fallback_patterns(self) -> tuple[str, ...]:
        """Patterns the engine could not take, checked with plain ``re`` (still exact)."""
        return tuple(self._patterns[pid] for pid in sorted(self._direct))

    @property
    def needs_every_line(self) -> bool:
        """Some trigger without a pattern can fire on a log event.

        ``scan`` only reports lines that a *pattern* matches; when this is true a log
        source must turn every line into an event, not only the lines ``scan`` returns.
        """
        return bool(self._kinds["log"].patternless)

    def triggers_of_pattern(self, pattern_id: int) -> tuple[Trigger, ...]:
        """The triggers that use pattern ``pattern_id``."""
        return tuple(
            t for t, p in zip(self._triggers, self._pattern_of, strict=True) if p == pattern_id
        )

    # -- events -----------------------------------------------------------------------------

    def match(self, event: Event) -> list[Match]:
        """Every trigger that fires on ``event``: by priority, then playbook, then index."""
        index = self._kinds[event.kind]
        found = self._confirmed(event.message, index)
        fired = [pos for pos in index.patternless if passes(self._triggers[pos], event)]
        for pid in found:
            fired.extend(pos for pos in index.by_pattern[pid] if passes(self._triggers[pos], event))
        if not fired:
            return []
        fired.sort(key=self._rank.__getitem__)
        fingerprint = event.fingerprint()
        out: list[Match] = []
        for pos in fired:
            trigger = self._triggers[pos]
            used = self._pattern_of[pos]
            captures: dict[str, str] = {}
            if used is not None:
                groups = found[used].groupdict()
                captures = {k: v for k, v in groups.items() if v is not None}
            out.append(
                Match(
                    playbook=trigger.playbook,
                    trigger_index=trigger.index,
                    trigger_type=trigger.type,
                    captures=captures,
                    signature=signature(trigger.playbook, fingerprint, captures),
                )
            )
        return out

    def match_playbooks(self, event: Event) -> list[Match]:
        """The first match of each playbook (what the pipeline acts on), in the same order."""
        seen: set[str] = set()
        out: list[Match] = []
        for found in self.match(event):
            if found.playbook not in seen:
                seen.add(found.playbook)
                out.append(found)
        return out

    def explain(self, event: Event) -> list[Explanation]:
        """For every trigger, in result order: did it match ``event``, and why (not)."""
        order = sorted(range(len(self._triggers)), key=self._rank.__getitem__)
        return [
            explain_trigger(
                self._triggers[pos],
                event,
                None if (pid := self._pattern_of[pos]) is None else self._exact[pid],
            )
            for pos in order
        ]

    def _confirmed(self, message: str, index: _KindIndex) -> dict[int, re.Match[str]]:
        """Pattern id → match, for the patterns of ``index`` that match ``message``."""
        check: Collection[int] = index.pattern_ids
        if len(check) > _DIRECT_LIMIT and self._engine.prefilters_messages:
            proposed = self._engine.search(message.encode("utf-8", "surrogatepass"))
            check = [pid for pid in proposed if pid in index.pattern_ids]
            check.extend(index.direct)
        found: dict[int, re.Match[str]] = {}
        for pid in check:
            hit = self._exact[pid].search(message)
            if hit is not None:
                found[pid] = hit
        return found

    # -- log buffers ------------------------------------------------------------------------

    def scan(self, buffer: bytes) -> list[LineHit]:
        """The lines of ``buffer`` that at least one pattern matches, in order.

        ``buffer`` holds complete lines (a last line without ``\\n`` counts as complete),
        UTF-8 (invalid bytes read as U+FFFD); ``\\r\\n`` endings are understood. The result
        equals running ``re.search`` of every pattern on every line, only faster.
        """
        if not buffer:
            return []
        work = mask_cr(buffer)
        candidates = self._engine.candidates(work)
        if self._fallback is not None:
            candidates.extend(self._fallback.candidates(work))
        candidates.extend(every_line(work, self._per_line))
        return confirm_lines(buffer, work, candidates, self._exact)

    # -- construction -----------------------------------------------------------------------

    def _index_kinds(self) -> dict[str, _KindIndex]:
        kinds: dict[str, _KindIndex] = {}
        for kind in EVENT_KINDS:
            patternless: list[int] = []
            by_pattern: dict[int, list[int]] = {}
            for pos, trigger in enumerate(self._triggers):
                if kind not in TRIGGER_KINDS[trigger.type]:
                    continue
                pid = self._pattern_of[pos]
                if pid is None:
                    patternless.append(pos)
                else:
                    by_pattern.setdefault(pid, []).append(pos)
            kinds[kind] = _KindIndex(
                patternless=tuple(patternless),
                by_pattern={pid: tuple(p) for pid, p in by_pattern.items()},
                pattern_ids=frozenset(by_pattern),
                direct=tuple(sorted(self._direct.intersection(by_pattern))),
            )
        return kinds


def _ranks(triggers: tuple[Trigger, ...]) -> list[int]:
    order = sorted(range(len(triggers)), key=lambda pos: (order_key(triggers[pos]), pos))
    ranks = [0] * len(triggers)
    for rank, pos in enumerate(order):
        ranks[pos] = rank
    return ranks


def _compile(source: str, triggers: tuple[Trigger, ...]) -> re.Pattern[str]:
    compiled = _COMPILED.get(source)
    if compiled is not None:
        return compiled
    try:
        compiled = re.compile(source, re.MULTILINE)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        users = ", ".join(t.label for t in triggers if t.pattern == source)
        msg = f"trigger {users}: invalid regex {source!r}: {exc}"
        raise ConfigError(msg, hint="patterns use Python 're' syntax") from exc
    _COMPILED[source] = compiled
    return compiled


def _build(
    sources: Sequence[str], backend: str | None, cache_dir: Path | None
) -> tuple[Backend, ReBackend | None, tuple[int, ...]]:
    """The engine, the ``re`` fallback for what it refused, and the every-line patterns."""
    if backend is not None and backend not in BACKEND_NAMES:
        msg = f"unknown matching backend {backend!r}"
        raise ConfigError(msg, hint=f"use one of {', '.join(BACKEND_NAMES)}, or leave it unset")
    per_line: list[int] = []
    given: list[tuple[int, Superset]] = []
    for pid, source in enumerate(sources):
        try:
            translated = superset(source)
        except Untranslatable:
            per_line.append(pid)
            continue
        if translated.matches_empty:
            per_line.append(pid)
        else:
            given.append((pid, translated))
    for name in BACKEND_NAMES if backend is None else (backend,):
        try:
            engine = _engine(name, given, cache_dir)
        except (ImportError, RuntimeError) as exc:
            if backend is None:
                continue
            msg = f"matching backend {name!r} cannot be used: {exc}"
            raise ConfigError(msg, hint=_INSTALL_HINT) from exc
        rest = [(pid, sup) for pid, sup in given if pid not in engine.accepted]
        return engine, ReBackend(rest) if rest else None, tuple(per_line)
    raise AssertionError("the 're' backend always builds")  # pragma: no cover


def _engine(name: str, given: list[tuple[int, Superset]], cache_dir: Path | None) -> Backend:
    if name == "hyperscan":
        return HyperscanBackend(given, cache_dir=cache_dir)
    if name == "re2":
        return Re2Backend(given)
    return ReBackend(given)
