"""Lazy modules in the action registry: an index says which module defines which action.

The modules here are real files in a package of the test's own (a fresh name per test), so
``sys.modules`` shows exactly what the registry imported.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import grace.actions
from grace.actions import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    UnknownAction,
    action,
    default_registry,
)
from grace.actions._registry import source_digest
from grace.errors import PluginError

MODULE = """
from grace.actions import ActionContext, ActionParams, ActionResult, action

__all__ = ({fns})


class Params(ActionParams):
    x: int = 0

{actions}
"""

ACTION = '''

@action("{name}", params=Params)
async def {fn}(ctx: ActionContext, params: Params) -> ActionResult:
    """{name}."""
    return ActionResult(summary="{name}")
'''

DIGEST = "d" * 64


@dataclass
class Package:
    """A package of action modules written to disk, importable by its unique name."""

    name: str
    folder: Path
    modules: list[str]

    def forget(self) -> None:
        """Drop the package from ``sys.modules``, as a fresh process would start."""
        for mod in [m for m in sys.modules if m == self.name or m.startswith(f"{self.name}.")]:
            del sys.modules[mod]

    def loaded(self) -> set[str]:
        """The package's modules imported so far (short names)."""
        prefix = f"{self.name}."
        return {m.removeprefix(prefix) for m in sys.modules if m.startswith(prefix)}


MakePackage = Callable[[dict[str, list[str]]], Package]


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write ``{module: [action names]}`` as a package; forgotten again after the test."""
    made: list[Package] = []

    def make(spec: dict[str, list[str]]) -> Package:
        name = f"lazy_actions_{uuid.uuid4().hex[:12]}"
        root = tmp_path / "src"
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("", encoding="utf-8")
        for module, actions in spec.items():
            fns = [f"{module}_{i}" for i in range(len(actions))]
            body = "".join(ACTION.format(name=a, fn=f) for a, f in zip(actions, fns, strict=True))
            text = MODULE.format(fns="".join(f"{f!r}, " for f in fns), actions=body)
            (folder / f"{module}.py").write_text(textwrap.dedent(text), encoding="utf-8")
        monkeypatch.syspath_prepend(str(root))
        pkg = Package(name, folder, [f"{name}.{m}" for m in spec])
        made.append(pkg)
        return pkg

    yield make
    for pkg in made:
        pkg.forget()


SPEC = {"alpha": ["a.one", "a.two"], "beta": ["b.one"], "gamma": []}


def _warm(make_package: MakePackage, index_dir: Path) -> tuple[Package, ActionRegistry]:
    """A package whose index was written by a first (cold) registry, then forgotten."""
    pkg = make_package(SPEC)
    ActionRegistry().add_modules(pkg.modules, digest=DIGEST, index_dir=index_dir)
    pkg.forget()
    registry = ActionRegistry()
    registry.add_modules(pkg.modules, digest=DIGEST, index_dir=index_dir)
    return pkg, registry


def _index_file(index_dir: Path) -> Path:
    (path,) = index_dir.glob("actions-*.json")
    return path


def test_cold_start_imports_every_module_and_writes_the_index(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """No index yet: everything is imported now (as without an index), and the index written."""
    pkg = make_package(SPEC)
    registry = ActionRegistry()

    registry.add_modules(pkg.modules, digest=DIGEST, index_dir=tmp_path / "cache")

    assert pkg.loaded() == {"alpha", "beta", "gamma"}
    data = json.loads(_index_file(tmp_path / "cache").read_text(encoding="utf-8"))
    assert data == {
        "format": 1,
        "digest": DIGEST,
        "modules": {
            f"{pkg.name}.alpha": ["a.one", "a.two"],
            f"{pkg.name}.beta": ["b.one"],
            f"{pkg.name}.gamma": [],
        },
    }
    assert registry.names() == ["a.one", "a.two", "b.one"]


def test_without_an_index_folder_everything_is_imported_now(make_package: MakePackage) -> None:
    """``index_dir=None`` (the CLI) keeps the eager behaviour and writes nothing."""
    pkg = make_package(SPEC)

    ActionRegistry().add_modules(pkg.modules, digest=DIGEST)

    assert pkg.loaded() == {"alpha", "beta", "gamma"}


def test_warm_get_imports_only_the_module_that_defines_the_action(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """With the index, nothing is imported up front, and ``get`` imports one module."""
    pkg, registry = _warm(make_package, tmp_path / "cache")
    assert pkg.loaded() == set()

    defn = registry.get("b.one")

    assert defn.name == "b.one"
    assert defn.fn.__module__ == f"{pkg.name}.beta"
    assert pkg.loaded() == {"beta"}
    assert registry.get("a.two").fn.__module__ == f"{pkg.name}.alpha"
    assert pkg.loaded() == {"alpha", "beta"}


def test_names_iteration_and_membership_see_every_action(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """``in`` imports just the module it needs; ``names()`` and iteration import everything."""
    pkg, registry = _warm(make_package, tmp_path / "cache")

    assert "a.one" in registry
    assert pkg.loaded() == {"alpha"}
    assert [d.name for d in registry] == ["a.one", "a.two", "b.one"]
    assert pkg.loaded() == {"alpha", "beta", "gamma"}
    assert registry.names() == ["a.one", "a.two", "b.one"]
    assert "a.three" not in registry
    assert 3 not in registry


def test_unknown_name_loads_everything_and_suggests(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """A name the index does not know is looked for everywhere; the error lists close names."""
    pkg, registry = _warm(make_package, tmp_path / "cache")

    with pytest.raises(UnknownAction) as caught:
        registry.get("b.oen")

    assert caught.value.suggestions[0] == "b.one"
    assert caught.value.known == ["a.one", "a.two", "b.one"]
    assert caught.value.hint == "did you mean 'b.one'?"
    assert pkg.loaded() == {"alpha", "beta", "gamma"}


def _replace(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**data, key: value}


def _first_module(data: dict[str, Any], value: Any) -> dict[str, Any]:
    modules = dict(data["modules"])
    modules[next(iter(modules))] = value
    return {**data, "modules": modules}


DAMAGE: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "empty": lambda data: b"",
    "not json": lambda data: b"{not json",
    "not utf-8": lambda data: b"\xff\xfe\x00garbage",
    "a list": lambda data: b"[]",
    "no modules": lambda data: json.dumps(_replace(data, "modules", None)).encode(),
    "other format": lambda data: json.dumps(_replace(data, "format", 2)).encode(),
    "other digest": lambda data: json.dumps(_replace(data, "digest", "0" * 64)).encode(),
    "a module missing": lambda data: json.dumps(
        _replace(data, "modules", dict(list(data["modules"].items())[1:]))
    ).encode(),
    "a foreign module": lambda data: json.dumps(
        _replace(data, "modules", {**data["modules"], "os": []})
    ).encode(),
    "names not a list": lambda data: json.dumps(_first_module(data, "a.one")).encode(),
    "names not strings": lambda data: json.dumps(_first_module(data, [1])).encode(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_or_stale_index_is_a_miss_and_rewritten(
    make_package: MakePackage, tmp_path: Path, damage: str
) -> None:
    """Whatever the file holds, a bad index means a full load and a fresh index."""
    cache = tmp_path / "cache"
    pkg = make_package(SPEC)
    ActionRegistry().add_modules(pkg.modules, digest=DIGEST, index_dir=cache)
    path = _index_file(cache)
    good = path.read_bytes()
    path.write_bytes(DAMAGE[damage](json.loads(good)))
    pkg.forget()

    registry = ActionRegistry()
    registry.add_modules(pkg.modules, digest=DIGEST, index_dir=cache)

    assert pkg.loaded() == {"alpha", "beta", "gamma"}
    assert path.read_bytes() == good
    assert registry.get("b.one").name == "b.one"


def test_a_wrong_index_costs_a_full_load_never_a_wrong_answer(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """An index that puts an action in the wrong module, or forgets one, still finds it."""
    cache = tmp_path / "cache"
    pkg = make_package(SPEC)
    ActionRegistry().add_modules(pkg.modules, digest=DIGEST, index_dir=cache)
    path = _index_file(cache)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["modules"][f"{pkg.name}.gamma"] = ["b.one"]
    data["modules"][f"{pkg.name}.beta"] = []
    data["modules"][f"{pkg.name}.alpha"] = ["a.one"]
    path.write_text(json.dumps(data), encoding="utf-8")
    pkg.forget()
    registry = ActionRegistry()
    registry.add_modules(pkg.modules, digest=DIGEST, index_dir=cache)

    assert registry.get("b.one").fn.__module__ == f"{pkg.name}.beta"
    assert registry.get("a.two").fn.__module__ == f"{pkg.name}.alpha"


def test_an_unwritable_cache_folder_is_only_a_missed_index(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """The cache folder being a file (or read-only) never stops the registry."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    pkg = make_package(SPEC)
    registry = ActionRegistry()

    registry.add_modules(pkg.modules, digest=DIGEST, index_dir=blocker)

    assert registry.names() == ["a.one", "a.two", "b.one"]
    assert blocker.read_text(encoding="utf-8") == "a file, not a folder"


def test_only_the_newest_index_is_kept(make_package: MakePackage, tmp_path: Path) -> None:
    """A new digest (an edited built-in) replaces the older index instead of piling up."""
    cache = tmp_path / "cache"
    pkg = make_package(SPEC)
    ActionRegistry().add_modules(pkg.modules, digest="1" * 64, index_dir=cache)
    ActionRegistry().add_modules(pkg.modules, digest="2" * 64, index_dir=cache)

    assert [p.name for p in cache.glob("actions-*.json")] == [f"actions-{'2' * 16}.json"]


def test_duplicate_names_across_modules_are_a_plugin_error(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """Two modules declaring one name fail as before, naming both functions; no index is left."""
    pkg = make_package({"first": ["same.name"], "second": ["other", "same.name"]})

    with pytest.raises(PluginError) as caught:
        ActionRegistry().add_modules(pkg.modules, digest=DIGEST, index_dir=tmp_path / "cache")

    assert str(caught.value) == (
        f"two actions are named 'same.name': {pkg.name}.first.first_0"
        f" and {pkg.name}.second.second_1; rename one"
    )
    assert not list((tmp_path / "cache").glob("actions-*.json"))


async def _clash(ctx: ActionContext, params: ActionParams) -> ActionResult:
    """A plug-in's action named like a module's."""
    return ActionResult()


async def _extra(ctx: ActionContext, params: ActionParams) -> ActionResult:
    """One more action."""
    return ActionResult()


def test_a_plugin_named_like_a_pending_action_is_a_plugin_error(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """Registering a name a not-yet-imported module defines fails as if it had been imported."""
    pkg, registry = _warm(make_package, tmp_path / "cache")
    clash = action("b.one", params=ActionParams)(_clash)

    with pytest.raises(PluginError) as caught:
        registry.register_from(clash)

    assert str(caught.value) == (
        f"two actions are named 'b.one': {pkg.name}.beta.beta_0 and {__name__}._clash; rename one"
    )
    assert pkg.loaded() == {"beta"}


def test_a_failed_import_is_raised_and_stays_pending(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """A module that breaks after its index was written raises at first use, and again after."""
    pkg, registry = _warm(make_package, tmp_path / "cache")
    (pkg.folder / "beta.py").write_text("raise RuntimeError('beta is broken')\n", encoding="utf-8")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="beta is broken"):
            registry.get("b.one")
    assert registry.get("a.one").name == "a.one"


def test_fingerprint_follows_the_digest_not_what_was_imported(
    make_package: MakePackage, tmp_path: Path
) -> None:
    """Lazy or loaded, the same modules fingerprint alike; another digest or action differs."""
    cache = tmp_path / "cache"
    pkg = make_package(SPEC)
    cold = ActionRegistry()
    cold.add_modules(pkg.modules, digest=DIGEST, index_dir=cache)
    pkg.forget()
    warm = ActionRegistry()
    warm.add_modules(pkg.modules, digest=DIGEST, index_dir=cache)

    before = warm.fingerprint()
    assert pkg.loaded() == set()
    warm.names()
    assert warm.fingerprint() == before == cold.fingerprint()

    other = ActionRegistry()
    other.add_modules(pkg.modules, digest="e" * 64)
    assert other.fingerprint() != before
    cold.register_from(action("c.extra", params=ActionParams)(_extra))
    assert cold.fingerprint() != before


def _copy_of_actions(tmp_path: Path) -> Path:
    source = Path(grace.actions.__file__).parent
    copy = tmp_path / "actions"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_source_digest_changes_with_any_built_in_file(tmp_path: Path) -> None:
    """Editing, touching, adding or removing a file changes the digest; nothing else does."""
    copy = _copy_of_actions(tmp_path)
    first = source_digest(copy)
    assert source_digest(copy) == first

    shell = copy / "builtin" / "shell.py"
    shell.write_text(shell.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    edited = source_digest(copy)
    assert edited != first

    stat = shell.stat()
    os.utime(shell, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = source_digest(copy)
    assert touched not in (first, edited)

    (copy / "builtin" / "extra.py").write_text("", encoding="utf-8")
    added = source_digest(copy)
    assert added not in (first, edited, touched)

    (copy / "builtin" / "extra.py").unlink()
    assert source_digest(copy) == touched


def test_default_registry_with_an_index_equals_the_eager_one(tmp_path: Path) -> None:
    """The engine's lazy registry sees the same actions, and salts the cache the same way."""
    eager = default_registry()
    cold = default_registry(index_dir=tmp_path / "cache")
    warm = default_registry(index_dir=tmp_path / "cache")

    assert len(list((tmp_path / "cache").glob("actions-*.json"))) == 1
    assert warm.fingerprint() == cold.fingerprint() == eager.fingerprint()
    assert warm.get("shell") is eager.get("shell")
    assert warm.names() == eager.names()
