"""The playbook cache's salt: any change to a built-in's source or a plug-in's schema misses.

The built-ins count by their files (``source_digest``), so computing the salt imports no action;
the tests edit a copy of ``grace/actions`` to stand for an edited installation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import grace.actions
import grace.actions.builtin as builtin
from grace.actions import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    action,
    default_registry,
)
from grace.actions._registry import source_digest
from grace.playbooks import load_library
from grace.playbooks._cache import PlaybookCache, registry_fingerprint

TEXT = """
name: salted
steps:
  - {name: a, action: log, with: {message: hello}}
"""


def _copy_of_actions(tmp_path: Path) -> Path:
    copy = tmp_path / "installed" / "actions"
    shutil.copytree(
        Path(grace.actions.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


def _registry(actions_folder: Path) -> ActionRegistry:
    """The built-ins, counted by the files in ``actions_folder``."""
    registry = ActionRegistry()
    registry.add_modules(builtin.module_names(), digest=source_digest(actions_folder))
    return registry


def test_an_edited_built_in_file_invalidates_cached_playbooks(tmp_path: Path) -> None:
    """Same files: a hit. One built-in edited: a miss, and the playbook is validated again."""
    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "salted.yaml").write_text(TEXT, encoding="utf-8")
    raw = (folder / "salted.yaml").read_bytes()
    cache_dir = tmp_path / "cache"
    actions = _copy_of_actions(tmp_path)
    _, errors = load_library(
        [folder], registry=_registry(actions), include_bundled=False, cache_dir=cache_dir
    )
    assert errors == []

    assert PlaybookCache(cache_dir, _registry(actions)).get(raw, file="x", bundled=False)

    log_py = actions / "builtin" / "log.py"
    log_py.write_text(log_py.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    edited = _registry(actions)
    cache = PlaybookCache(cache_dir, edited)
    assert cache.get(raw, file="x", bundled=False) is None
    loaded, errors = load_library(
        [folder], registry=edited, include_bundled=False, cache_dir=cache_dir
    )
    assert errors == []
    assert loaded["salted"].spec.steps[0].action == "log"
    assert len(list(cache_dir.glob("*.json"))) == 2


def test_lazy_and_eager_registries_salt_alike(tmp_path: Path) -> None:
    """The engine's lazy registry (with an action index) hits what the CLI's eager one cached."""
    eager = default_registry()
    default_registry(index_dir=tmp_path / "cache")
    lazy = default_registry(index_dir=tmp_path / "cache")

    assert registry_fingerprint(lazy) == registry_fingerprint(eager)


class _Small(ActionParams):
    size: int = 1


class _Big(ActionParams):
    size: int = 1
    extra: str = ""


async def _scale_small(ctx: ActionContext, params: _Small) -> ActionResult:
    """Scale (one parameter)."""
    return ActionResult()


async def _scale_big(ctx: ActionContext, params: _Big) -> ActionResult:
    """Scale (two parameters)."""
    return ActionResult()


def test_a_plugin_schema_change_changes_the_salt() -> None:
    """A plug-in action counts by its schema: a new parameter is a different salt."""
    small = ActionRegistry()
    small.register_from(action("acme.scale", params=_Small)(_scale_small))
    big = ActionRegistry()
    big.register_from(action("acme.scale", params=_Big)(_scale_big))

    assert registry_fingerprint(small) != registry_fingerprint(big)
