"""The knowledge base's data: one :class:`FailurePattern` per known failure, and a match of one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grace._docstrings import DOCUMENTED

__all__ = ("FailurePattern", "KnowledgeFile", "PatternMatch")

PATTERN_ID = r"^[a-z0-9_]+$"


class FailurePattern(BaseModel):
    """One known failure: how to recognise it, why it happens, what fixes it, how to tell."""

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    id: str = Field(pattern=PATTERN_ID, max_length=100)
    """Unique, ``[a-z0-9_]+``; training records and success rates are keyed by it."""
    title: str = Field(min_length=1, max_length=200)
    """A few words for reports."""
    signature: str = Field(min_length=1, max_length=4000)
    """A Python regex searched in the failure text; named groups become captures."""
    root_cause: str = Field(min_length=1)
    """Why it happens, for the operator reading the report."""
    fix_playbook: str = Field(pattern=PATTERN_ID, max_length=100)
    """The playbook that repairs it (by name; a missing one is reported, not crashed on)."""
    risk: Literal["low", "medium", "high", "critical"]
    """How risky the fix is (the governor rules on the playbook's own metadata when it runs)."""
    autonomy_tier: int = Field(ge=0, le=3)
    """0 observe … 3 fully autonomous: how far the fix may go without a human."""
    verification: str = Field(min_length=1)
    """What proves it fixed (``grace boot`` re-runs the failing stage after a fix)."""


class KnowledgeFile(BaseModel):
    """The whole YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    patterns: list[FailurePattern] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PatternMatch:
    """A known failure found in a text."""

    pattern: FailurePattern
    """The pattern that matched."""
    captures: dict[str, str] = field(default_factory=dict)
    """Named groups that took part in the match."""
    excerpt: str = ""
    """The line (at most 300 characters) where the signature matched."""

    @property
    def id(self) -> str:
        """The pattern's id."""
        return self.pattern.id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: pattern id, fix playbook, captures, excerpt."""
        return {
            "pattern": self.pattern.id,
            "title": self.pattern.title,
            "fix_playbook": self.pattern.fix_playbook,
            "risk": self.pattern.risk,
            "autonomy_tier": self.pattern.autonomy_tier,
            "captures": dict(self.captures),
            "excerpt": self.excerpt,
        }


def excerpt_of(text: str, match: re.Match[str]) -> str:
    """The line where ``match`` ends (tracebacks end with the error line), trimmed."""
    end = max(match.end() - 1, match.start())
    start = text.rfind("\n", 0, end) + 1
    stop = text.find("\n", end)
    line = text[start : stop if stop != -1 else len(text)].strip()
    return line[:300]
