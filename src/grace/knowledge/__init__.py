"""The known-failure knowledge base: startup failures as data (docs/knowledge-base.md).

Each :class:`FailurePattern` has a signature regex, a root cause, the playbook that fixes it, a
risk and an autonomy tier, and what proves it fixed. :meth:`KnowledgeBase.classify` finds them in
a failure text; :func:`pattern_stats` computes each pattern's success rate from the training
records ``grace boot`` writes.
"""

from __future__ import annotations

from grace.knowledge._base import BUNDLED_FILE as BUNDLED_FILE
from grace.knowledge._base import KnowledgeBase as KnowledgeBase
from grace.knowledge._base import KnowledgeBaseError as KnowledgeBaseError
from grace.knowledge._base import load_knowledge as load_knowledge
from grace.knowledge._model import FailurePattern as FailurePattern
from grace.knowledge._model import PatternMatch as PatternMatch
from grace.knowledge._stats import PatternStats as PatternStats
from grace.knowledge._stats import pattern_stats as pattern_stats
from grace.knowledge._stats import write_stats as write_stats

__all__ = (
    "BUNDLED_FILE",
    "FailurePattern",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "PatternMatch",
    "PatternStats",
    "load_knowledge",
    "pattern_stats",
    "write_stats",
)
