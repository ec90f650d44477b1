"""Which actions exist. Built-ins and third parties load through the ``grace.actions`` entry points."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType

from grace.actions._base import ActionDefinition, definition_of
from grace.errors import PluginError

__all__ = ("ENTRY_POINT_GROUP", "ActionRegistry", "UnknownAction", "default_registry")

ENTRY_POINT_GROUP = "grace.actions"


class UnknownAction(LookupError):
    """Asked for an action nobody registered. ``suggestions`` holds close names."""

    def __init__(self, name: str, suggestions: list[str], known: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        self.known = known
        super().__init__(name)

    @property
    def hint(self) -> str:
        if self.suggestions:
            return f"did you mean '{self.suggestions[0]}'?"
        return (
            f"installed actions: {', '.join(self.known)} (third-party actions must be installed "
            f"and registered under the '{ENTRY_POINT_GROUP}' entry point)"
        )


class ActionRegistry:
    """A name → :class:`ActionDefinition` map with friendly lookups."""

    def __init__(self, definitions: Iterable[ActionDefinition] = ()) -> None:
        self._defs: dict[str, ActionDefinition] = {}
        for d in definitions:
            self.register(d)

    def register(self, defn: ActionDefinition) -> None:
        """Add one action; a second action of the same name is a plugin error."""
        existing = self._defs.get(defn.name)
        if existing is not None and existing.fn is not defn.fn:
            msg = (
                f"two actions are named {defn.name!r}: {existing.fn.__module__}.{existing.fn.__qualname__}"
                f" and {defn.fn.__module__}.{defn.fn.__qualname__}; rename one"
            )
            raise PluginError(msg)
        self._defs[defn.name] = defn

    def register_from(self, obj: object) -> int:
        """Register every decorated action found in a module, a function, or an iterable."""
        count = 0
        if isinstance(obj, ModuleType):
            names = getattr(obj, "__all__", None) or [n for n in vars(obj) if not n.startswith("_")]
            items: Iterable[object] = (getattr(obj, n) for n in names)
        elif definition_of(obj) is not None:
            items = [obj]
        elif isinstance(obj, Iterable):
            items = obj
        else:
            msg = f"{obj!r} is neither a module, an @action function, nor a list of them"
            raise PluginError(msg)
        for item in items:
            defn = definition_of(item)
            if defn is not None:
                self.register(defn)
                count += 1
        return count

    def get(self, name: str) -> ActionDefinition:
        """The action called ``name``.

        Raises:
            UnknownAction: with close matches for "did you mean".
        """
        try:
            return self._defs[name]
        except KeyError:
            known = sorted(self._defs)
            raise UnknownAction(name, difflib.get_close_matches(name, known, n=3), known) from None

    def __contains__(self, name: object) -> bool:
        return name in self._defs

    def __iter__(self) -> Iterator[ActionDefinition]:
        return iter(sorted(self._defs.values(), key=lambda d: d.name))

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._defs)


def default_registry() -> ActionRegistry:
    """Built-ins plus every installed ``grace.actions`` entry point."""
    registry = ActionRegistry()
    # Built-ins are always there, even when the package metadata is not installed (a source tree).
    from grace.actions import builtin

    for module in builtin.modules():
        registry.register_from(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value == builtin.__name__:
            continue
        try:
            loaded = ep.load()
        except Exception as exc:
            msg = f"action plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}"
            raise PluginError(msg) from exc
        registry.register_from(loaded)
    return registry
