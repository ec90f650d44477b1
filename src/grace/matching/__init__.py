"""Matching: every trigger of every playbook in one multi-pattern matcher. Pure.

Events in, :class:`Match` out (playbook, trigger, captures, signature), ordered by priority;
``scan`` finds matching lines in raw log buffers without a Python call per line; ``explain``
says for each trigger why it did or did not fire. Engines (hyperscan, then google-re2, then
plain ``re``) only prefilter; Python's ``re`` confirms every hit, so results are identical
whichever engine runs. No I/O (but the optional hyperscan cache), no clock, no logging.
See ``docs/matching.md``.
"""

from __future__ import annotations

from grace.matching._backends.base import BACKEND_NAMES as BACKEND_NAMES
from grace.matching._match import Explanation as Explanation
from grace.matching._match import LineHit as LineHit
from grace.matching._match import Match as Match
from grace.matching._match import signature as signature
from grace.matching._matcher import Matcher as Matcher
from grace.matching._trigger import PRIORITIES as PRIORITIES
from grace.matching._trigger import TRIGGER_KINDS as TRIGGER_KINDS
from grace.matching._trigger import Trigger as Trigger
from grace.matching._trigger import triggers_of as triggers_of

__all__ = (
    "BACKEND_NAMES",
    "PRIORITIES",
    "TRIGGER_KINDS",
    "Explanation",
    "LineHit",
    "Match",
    "Matcher",
    "Trigger",
    "signature",
    "triggers_of",
)
