"""Which source types exist: built-ins plus the ``grace.sources`` entry points."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from grace.errors import ConfigError, PluginError
from grace.sources._base import SourceConfig, SourceDefinition, definition_of_source

__all__ = ("ENTRY_POINT_GROUP", "SourceRegistry", "default_source_registry")

ENTRY_POINT_GROUP = "grace.sources"


class SourceRegistry:
    """type name → :class:`SourceDefinition`, and config validation with clear errors."""

    def __init__(self) -> None:
        self._defs: dict[str, SourceDefinition] = {}

    def register_from(self, obj: object) -> int:
        """Register every ``@source`` class found in a module, a class, or an iterable."""
        if isinstance(obj, ModuleType):
            names = getattr(obj, "__all__", None) or [n for n in vars(obj) if not n.startswith("_")]
            items: Iterable[object] = (getattr(obj, n) for n in names)
        elif definition_of_source(obj) is not None:
            items = [obj]
        elif isinstance(obj, Iterable):
            items = obj
        else:
            msg = f"{obj!r} is neither a module, a @source class, nor a list of them"
            raise PluginError(msg)
        count = 0
        for item in items:
            defn = definition_of_source(item)
            if defn is None:
                continue
            other = self._defs.get(defn.type_name)
            if other is not None and other.factory is not defn.factory:
                msg = f"two sources are named {defn.type_name!r}: {other.factory!r} and {defn.factory!r}"
                raise PluginError(msg)
            self._defs[defn.type_name] = defn
            count += 1
        return count

    def get(self, type_name: str) -> SourceDefinition:
        try:
            return self._defs[type_name]
        except KeyError:
            known = sorted(self._defs)
            close = difflib.get_close_matches(type_name, known, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"known source types: {', '.join(known)}"
            )
            msg = f"unknown source type {type_name!r}"
            raise ConfigError(msg, hint=hint) from None

    def names(self) -> list[str]:
        return sorted(self._defs)

    def parse(self, raw: Mapping[str, Any], *, where: str) -> SourceConfig:
        """Validate one ``sources:`` item into its typed config.

        Raises:
            ConfigError: naming ``where`` (``grace.yaml: sources[2]``), the field and the fix.
        """
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            msg = f"{where}: every source needs 'type:'"
            raise ConfigError(msg, hint=f"one of {', '.join(self.names())}")
        defn = self.get(type_name)
        try:
            return defn.config.model_validate(dict(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "?"
            msg = f"{where}: source {type_name!r} field '{field}': {err['msg']}"
            raise ConfigError(msg, hint=f"see docs/sources.md#{type_name}") from exc


def default_source_registry() -> SourceRegistry:
    """Built-in sources plus every installed ``grace.sources`` entry point."""
    registry = SourceRegistry()
    registry.register_from(importlib.import_module("grace.sources.builtin"))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value == "grace.sources.builtin":
            continue
        try:
            loaded = ep.load()
        except Exception as exc:
            msg = f"source plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}"
            raise PluginError(msg) from exc
        registry.register_from(loaded)
    return registry
