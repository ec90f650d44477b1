"""Collects the problems found in one file, each placed at its field's line and column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

from grace.errors import PlaybookError, Problem
from grace.playbooks._source import Document, FieldPath, dotted

__all__ = ("Report", "did_you_mean", "with_listing")


def did_you_mean(word: str, choices: Iterable[str], *, quote: str = "'") -> str | None:
    """``"did you mean 'x'?"`` for the closest of ``choices``, or None."""
    options = sorted(set(choices))
    same = [c for c in options if c.lower() == word.lower()]
    close = same or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {quote}{close[0]}{quote}?" if close else None


def with_listing(close: str | None, listing: str) -> str:
    """A hint: the "did you mean" (when there is one), then the list of valid choices."""
    return f"{close} {listing}" if close else listing


class Report:
    """Every problem of one file; :meth:`raise_if_any` turns them into one PlaybookError."""

    def __init__(self, file: str, document: Document) -> None:
        self.file = file
        self.document = document
        self.problems: list[Problem] = []

    def add(
        self,
        path: FieldPath,
        message: str,
        hint: str | None = None,
        *,
        at: Literal["key", "value"] = "value",
    ) -> None:
        """Record a problem about the field at ``path``; the message gets the path as prefix.

        ``at="key"`` points at the key itself (unknown keys, missing fields), ``"value"`` at
        its value (wrong types, bad regexes).
        """
        doc = self.document
        mark = doc.key_mark(path) if at == "key" else doc.value_mark(path)
        field = dotted(path)
        text = f"{field}: {message}" if field else message
        self.problems.append(Problem(self.file, mark.line, mark.column, text, hint, field=field))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Add problems found elsewhere (the YAML parser)."""
        self.problems.extend(problems)

    def sorted(self) -> list[Problem]:
        """The problems in file order, without exact duplicates."""
        unique = {(p.line, p.column, p.message, p.hint, p.field): p for p in self.problems}
        return [unique[key] for key in sorted(unique, key=lambda k: (k[0], k[1], k[2]))]

    def raise_if_any(self) -> None:
        """Raises:
        PlaybookError: with every problem, in file order, when there is at least one.
        """
        if self.problems:
            raise PlaybookError(self.sorted(), file=self.file)
