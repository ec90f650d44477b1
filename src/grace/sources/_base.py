"""The source contract: a class declared with :func:`source`, built from a typed config model.

A source watches one thing (a log file, an endpoint, a heartbeat…) and calls ``emit`` with
:class:`grace.events.Event` values. Sources know nothing of matching, governance or runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from grace.errors import PluginError
from grace.events import Event
from grace.types import Clock, IdFactory

__all__ = (
    "Emit",
    "EventSource",
    "LineFilter",
    "LineHit",
    "LineSpan",
    "SourceConfig",
    "SourceContext",
    "SourceDefinition",
    "SourceState",
    "definition_of_source",
    "source",
)

Emit = Callable[[Event, str | None], Awaitable[None]]
"""``await emit(event, event_key)``: hand an event to the pipeline. ``event_key`` (stable across
resends, e.g. ``file:offset``) makes delivery idempotent; None means the event id. It applies
back-pressure: it waits while the pipeline's queue is full."""


@dataclass(frozen=True, slots=True)
class LineHit:
    """A line of a newline-aligned buffer that at least one trigger pattern hits."""

    start: int
    """Byte offset of the line's first byte in the buffer."""
    end: int
    """Byte offset just past the line's last byte (the newline excluded)."""
    pattern_ids: tuple[int, ...] = ()


class LineSpan(Protocol):
    """Where a line lies in a buffer (what a line filter returns; :class:`LineHit` is one)."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


LineFilter = Callable[[bytes], Sequence[LineSpan]]
"""The matcher's fast path handed to log sources: which lines of a buffer can matter at all."""


class SourceState(Protocol):
    """The rows a source may keep (the store implements it): offsets, fires, heartbeats."""

    def get_offset(self, source_id: str) -> tuple[str, int] | None: ...

    def save_offset(self, source_id: str, file_key: str, offset: int) -> None: ...

    def record_fire(self, job: str, slot: str) -> bool: ...

    def beat(self, name: str, *, detail: dict[str, Any] | None = None) -> datetime: ...

    def last_beats(self) -> dict[str, datetime]: ...


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source may use. State goes through ``state`` (rows), never module globals."""

    clock: Clock
    ids: IdFactory
    state: SourceState
    data_dir: Path
    line_filter: LineFilter | None = None
    """When set, a log source turns only the lines it returns into events (plus tracebacks)."""
    logger: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Engine-provided values some sources need (e.g. scheduled jobs from the playbooks)."""


class SourceConfig(BaseModel):
    """Base for every source's config (one item of ``sources:`` in grace.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    """Which source: ``log``, ``http``, ``tcp``, ``heartbeat``, ``schedule``…"""
    name: str = ""
    """Unique name (default: derived from the type and target)."""
    service: str = ""
    """The service its events concern."""


class EventSource(Protocol):
    """A running source."""

    name: str

    async def run(self, emit: Emit) -> None:
        """Watch until cancelled; call ``emit`` for each event.

        A source may also take anyio's ``task_status`` keyword and call
        ``task_status.started()`` once it is watching: ``grace serve`` then reports ready only
        after that (the ``log`` source does, once its files are open at their offsets).
        """


C = TypeVar("C", bound=SourceConfig)
Factory = Callable[[Any, SourceContext], EventSource]


@dataclass(frozen=True, slots=True)
class SourceDefinition:
    """One registered source type."""

    type_name: str
    factory: Factory
    config: type[SourceConfig]
    description: str = ""


_ATTR = "__grace_source__"


def source(type_name: str, *, config: type[C]) -> Callable[[type], type]:
    """Declare a source class: ``__init__(self, config, ctx)`` and ``async def run(self, emit)``."""
    if not (isinstance(config, type) and issubclass(config, SourceConfig)):
        msg = f"source {type_name!r}: config= must subclass grace.sources.SourceConfig"
        raise PluginError(msg)

    def decorate(cls: type) -> type:
        run = getattr(cls, "run", None)
        if run is None or not inspect.iscoroutinefunction(run):
            msg = f"source {type_name!r}: {cls.__qualname__} needs 'async def run(self, emit)'"
            raise PluginError(msg)
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]
        setattr(cls, _ATTR, SourceDefinition(type_name, cls, config, doc))
        return cls

    return decorate


def definition_of_source(obj: object) -> SourceDefinition | None:
    """The definition attached by :func:`source`, or None."""
    defn = getattr(obj, _ATTR, None)
    return defn if isinstance(defn, SourceDefinition) else None
