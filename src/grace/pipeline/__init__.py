"""The running flow: events in, decisions made, runs executed."""

from __future__ import annotations

from grace.pipeline._counters import PipelineCounters as PipelineCounters
from grace.pipeline._decide import Decider as Decider
from grace.pipeline._decide import Outcome as Outcome
from grace.pipeline._pipeline import Pipeline as Pipeline

__all__ = ("Decider", "Outcome", "Pipeline", "PipelineCounters")
