"""Event sources: log tail, exceptions (SDK), HTTP/TCP probes, heartbeats, webhooks, schedules."""

from __future__ import annotations

from grace.sources._base import Emit as Emit
from grace.sources._base import EventSource as EventSource
from grace.sources._base import LineFilter as LineFilter
from grace.sources._base import LineHit as LineHit
from grace.sources._base import LineSpan as LineSpan
from grace.sources._base import SourceConfig as SourceConfig
from grace.sources._base import SourceContext as SourceContext
from grace.sources._base import SourceDefinition as SourceDefinition
from grace.sources._base import SourceState as SourceState
from grace.sources._base import definition_of_source as definition_of_source
from grace.sources._base import source as source
from grace.sources._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from grace.sources._registry import SourceRegistry as SourceRegistry
from grace.sources._registry import default_source_registry as default_source_registry

__all__ = (
    "ENTRY_POINT_GROUP",
    "Emit",
    "EventSource",
    "LineFilter",
    "LineHit",
    "LineSpan",
    "SourceConfig",
    "SourceContext",
    "SourceDefinition",
    "SourceRegistry",
    "SourceState",
    "default_source_registry",
    "definition_of_source",
    "source",
)
