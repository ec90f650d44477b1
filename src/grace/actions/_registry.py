"""Which actions exist. Built-ins and third parties load through the ``grace.actions`` entry points.

The built-in modules can be registered lazily (:meth:`ActionRegistry.add_modules`): an index in
the engine's cache folder, ``actions-<digest>.json``, says which module defines which action,
so a module is imported when one of its actions is first asked for. The index is data, never
code: only the modules the registry was given are ever imported, whatever the file says, and a
wrong or damaged index costs at most a full load.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from grace.actions._base import ActionDefinition, definition_of
from grace.errors import PluginError

__all__ = (
    "ENTRY_POINT_GROUP",
    "ActionRegistry",
    "UnknownAction",
    "default_registry",
    "source_digest",
)

ENTRY_POINT_GROUP = "grace.actions"

_INDEX_FORMAT = 1

PathArg = str | os.PathLike[str]


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
    """A name → :class:`ActionDefinition` map with friendly lookups.

    Modules given to :meth:`add_modules` with a valid index are *pending* until one of their
    actions is needed; :meth:`names`, iteration and an unknown name load all of them first, so
    every caller sees the same set as if everything had been imported up front.
    """

    def __init__(self, definitions: Iterable[ActionDefinition] = ()) -> None:
        self._defs: dict[str, ActionDefinition] = {}
        self._direct: dict[str, ActionDefinition] = {}
        """Registered one by one (not from :meth:`add_modules`): fingerprinted by schema."""
        self._pending: dict[str, None] = {}
        """Modules not imported yet, in load order."""
        self._home: dict[str, str] = {}
        """Action name → the pending module that registers it (from the index)."""
        self._digests: list[str] = []
        self._lock = threading.RLock()
        for d in definitions:
            self.register(d)

    def register(self, defn: ActionDefinition) -> None:
        """Add one action; a second action of the same name is a plugin error."""
        with self._lock:
            home = self._home.get(defn.name)
            if home is not None and home in self._pending:
                self._import(home)  # the built-in comes first, as if loaded up front
            self._add(defn)
            self._direct[defn.name] = defn

    def _add(self, defn: ActionDefinition) -> None:
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
        found = _definitions_in(obj)
        for defn in found:
            self.register(defn)
        return len(found)

    def add_modules(
        self, modules: Sequence[str], *, digest: str, index_dir: PathArg | None = None
    ) -> None:
        """Register every action of these modules (importable names, in load order).

        ``digest`` must change whenever the modules' code could have (see :func:`source_digest`):
        it names the index and stands for these actions in :meth:`fingerprint`. With
        ``index_dir`` holding the index written for this digest, each module is imported when
        one of its actions is first needed. Without ``index_dir``, or when its index is
        missing, stale or damaged, every module is imported now (a duplicate name raises
        :class:`PluginError` here) and, with ``index_dir``, the index is (re)written.
        """
        with self._lock:
            self._digests.append(digest)
            folder = Path(index_dir) if index_dir is not None else None
            index = _read_index(folder, digest, modules) if folder is not None else None
            if index is None:
                found = {}
                for module in modules:
                    self._pending[module] = None
                    found[module] = self._import(module)
                if folder is not None:
                    _write_index(folder, digest, found)
                return
            for module in modules:
                self._pending[module] = None
                for name in index[module]:
                    self._home.setdefault(name, module)

    def _import(self, module: str) -> list[str]:
        """Import one pending module and register its actions; the names it added."""
        loaded = importlib.import_module(module)  # a failed import stays pending
        del self._pending[module]
        added: list[str] = []
        for defn in _definitions_in(loaded):
            if defn.name not in self._defs:
                added.append(defn.name)
            self._add(defn)
        return added

    def _load_all(self) -> None:
        with self._lock:
            while self._pending:
                self._import(next(iter(self._pending)))

    def _find(self, name: str) -> ActionDefinition | None:
        """``name``'s definition, importing its module (or, if the index does not know it,
        every pending module) first."""
        with self._lock:
            home = self._home.get(name)
            if home is not None and home in self._pending:
                self._import(home)
            if name not in self._defs:
                self._load_all()
            return self._defs.get(name)

    def get(self, name: str) -> ActionDefinition:
        """The action called ``name``.

        Raises:
            UnknownAction: with close matches for "did you mean".
        """
        defn = self._defs.get(name)
        if defn is None:
            defn = self._find(name)
        if defn is None:
            known = sorted(self._defs)
            raise UnknownAction(name, difflib.get_close_matches(name, known, n=3), known)
        return defn

    def __contains__(self, name: object) -> bool:
        if name in self._defs:
            return True
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[ActionDefinition]:
        self._load_all()
        return iter(sorted(self._defs.values(), key=lambda d: d.name))

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_all()
        return sorted(self._defs)

    def fingerprint(self) -> str:
        """A digest that changes whenever an action's name or parameter schema could have.

        Modules from :meth:`add_modules` count by their digest (nothing is imported);
        actions registered one by one count by name, parameter schema and outputs.
        """
        parts = [f"modules={digest}" for digest in self._digests]
        parts.extend(
            f"{d.name}:{json.dumps(d.params.model_json_schema(), sort_keys=True)}:{d.outputs}"
            for d in sorted(self._direct.values(), key=lambda d: d.name)
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _definitions_in(obj: object) -> list[ActionDefinition]:
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
    return [defn for item in items if (defn := definition_of(item)) is not None]


def source_digest(folder: Path) -> str:
    """Grace's and pydantic's versions plus every ``.py`` file under ``folder`` (its path, size
    and modification time): cheap (no file is read), and changed by any edit or reinstall."""
    from pydantic.version import VERSION

    import grace

    parts = [f"grace={getattr(grace, '__version__', '?')}", f"pydantic={VERSION}"]
    for path in sorted(folder.rglob("*.py")):
        try:
            st = path.stat()
        except OSError:
            continue  # vanished while we looked: its absence is what counts
        parts.append(f"{path.relative_to(folder).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _index_path(index_dir: Path, digest: str) -> Path:
    return index_dir / f"actions-{digest[:16]}.json"


def _read_index(
    index_dir: Path, digest: str, modules: Sequence[str]
) -> dict[str, list[str]] | None:
    """Module → action names, or None when the index is missing, unreadable or not for these
    modules and this digest."""
    try:
        data = json.loads(_index_path(index_dir, digest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    index = data.get("modules")
    if (
        data.get("format") != _INDEX_FORMAT
        or data.get("digest") != digest
        or not isinstance(index, dict)
        or set(index) != set(modules)
    ):
        return None
    for names in index.values():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
    return index


def _write_index(index_dir: Path, digest: str, index: dict[str, list[str]]) -> None:
    """Write the index atomically and drop older ones; any failure just leaves no index."""
    path = _index_path(index_dir, digest)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    data = {"format": _INDEX_FORMAT, "digest": digest, "modules": index}
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        for old in index_dir.glob("actions-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def default_registry(*, index_dir: PathArg | None = None) -> ActionRegistry:
    """Built-ins plus every installed ``grace.actions`` entry point.

    With ``index_dir`` (the engine passes ``<data_dir>/cache``), a built-in module is imported
    only when one of its actions is first needed, once an index has been written there (the
    first call imports them all and writes it). Third-party entry points are imported now.
    """
    registry = ActionRegistry()
    # Built-ins are always there, even when the package metadata is not installed (a source tree).
    from grace.actions import builtin

    folder = Path(builtin.__file__).parent.parent  # grace/actions: the built-ins and their base
    registry.add_modules(builtin.module_names(), digest=source_digest(folder), index_dir=index_dir)
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
