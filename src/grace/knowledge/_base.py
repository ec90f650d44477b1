"""Load the knowledge base (YAML, every fault with file:line:column) and classify failure text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grace.errors import ConfigError, Problem
from grace.knowledge._model import FailurePattern, KnowledgeFile, PatternMatch, excerpt_of

__all__ = ("BUNDLED_FILE", "KnowledgeBase", "KnowledgeBaseError", "load_knowledge")

BUNDLED_FILE = Path(__file__).with_name("startup_failures.yaml")
"""The startup failures that ship with Grace."""

MAX_TEXT = 200_000
"""Only the last this many characters of a failure text are classified (tracebacks end there)."""


class KnowledgeBaseError(ConfigError):
    """The knowledge base file is invalid; ``problems`` lists every fault (file:line:column)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            "\n".join(str(p) for p in problems), hint="fix the knowledge base file and retry"
        )
        self.problems = problems


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: FailurePattern
    regex: re.Pattern[str]


class KnowledgeBase:
    """Known failures, in file order, each with its compiled signature."""

    def __init__(self, patterns: Iterable[FailurePattern], *, source: str = "<memory>") -> None:
        self.source = source
        self._compiled = [_Compiled(p, re.compile(p.signature)) for p in patterns]

    @property
    def patterns(self) -> list[FailurePattern]:
        """Every pattern, in file order."""
        return [c.pattern for c in self._compiled]

    def get(self, pattern_id: str) -> FailurePattern | None:
        """The pattern with this id, or None."""
        return next((c.pattern for c in self._compiled if c.pattern.id == pattern_id), None)

    def classify(self, text: str) -> list[PatternMatch]:
        """Every known failure whose signature occurs in ``text``, in knowledge-base order."""
        text = text[-MAX_TEXT:]
        found: list[PatternMatch] = []
        for item in self._compiled:
            match = item.regex.search(text)
            if match is None:
                continue
            captures = {k: v for k, v in match.groupdict().items() if v is not None}
            found.append(PatternMatch(item.pattern, captures, excerpt_of(text, match)))
        return found


def load_knowledge(path: str | Path | None = None) -> KnowledgeBase:
    """Load a knowledge base file (default: the bundled startup failures).

    Raises:
        KnowledgeBaseError: every fault found, each at its file:line:column: YAML syntax, unknown
            or missing keys, bad values, signatures that are not valid regexes, duplicate ids.
    """
    from grace.playbooks._report import Report
    from grace.playbooks._source import parse_document
    from grace.playbooks._validate import validate_model

    file = str(path or BUNDLED_FILE)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(file, 0, 0, f"cannot read the knowledge base: {exc}", "check the path")
        raise KnowledgeBaseError([problem]) from exc
    document, problems = parse_document(text, file)
    if document is None:
        raise KnowledgeBaseError(problems)
    report = Report(file, document)
    report.extend(problems)
    data = document.data
    if not isinstance(data, Mapping):
        report.add((), "the top level must be a mapping with 'version' and 'patterns'")
        raise KnowledgeBaseError(report.sorted())
    entries = data.get("patterns")
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, Mapping):
            continue
        signature = entry.get("signature")
        if isinstance(signature, str):
            try:
                re.compile(signature)
            except re.error as exc:
                report.add(
                    ("patterns", index, "signature"),
                    f"not a valid regular expression: {exc}",
                    "escape literal brackets and parentheses with a backslash",
                )
        pattern_id = entry.get("id")
        if isinstance(pattern_id, str):
            if pattern_id in seen:
                report.add(
                    ("patterns", index, "id"),
                    f"duplicate id {pattern_id!r} (also pattern {seen[pattern_id]})",
                    "every pattern needs its own id",
                )
            seen.setdefault(pattern_id, index)
    model = validate_model(KnowledgeFile, data, report)
    if report.problems or model is None:
        raise KnowledgeBaseError(report.sorted())
    return KnowledgeBase(model.patterns, source=file)
