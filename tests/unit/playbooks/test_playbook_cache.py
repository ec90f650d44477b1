"""The playbook cache: a hit equals a fresh load; any change to the bytes or the actions misses."""

from __future__ import annotations

from pathlib import Path

from grace.actions import ActionRegistry, default_registry
from grace.playbooks import load_library
from grace.playbooks._cache import PlaybookCache, registry_fingerprint

TEXT = """
name: cached_one
triggers:
  - {type: log_message, pattern: 'worker (?P<n>\\d+) died'}
steps:
  - {name: a, action: log, with: {message: "worker {{ diagnosis.n }}"}}
recovery:
  on_failure:
    - {action: log, with: {message: "still dead"}}
"""


def test_hit_equals_fresh_load(tmp_path: Path) -> None:
    """The second load comes from the cache and equals the first: spec, lines, patterns."""
    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "one.yaml").write_text(TEXT)
    cache_dir = tmp_path / "cache"
    registry = default_registry()
    first, errors = load_library(
        [folder], registry=registry, include_bundled=False, cache_dir=cache_dir
    )
    assert errors == []
    assert list(cache_dir.glob("*.json"))
    cache = PlaybookCache(cache_dir, registry)
    raw = (folder / "one.yaml").read_bytes()
    hit = cache.get(raw, file=str(folder / "one.yaml"), bundled=False)
    assert hit is not None
    fresh = first["cached_one"]
    assert hit.spec == fresh.spec
    assert hit.lines == fresh.lines
    assert [p.pattern if p else None for p in hit.patterns] == [
        p.pattern if p else None for p in fresh.patterns
    ]
    assert hit.spec.recovery.on_failure[0].name == "on_failure_1"
    second, _ = load_library(
        [folder], registry=registry, include_bundled=False, cache_dir=cache_dir
    )
    assert second["cached_one"].spec == fresh.spec


def test_changed_bytes_or_actions_miss(tmp_path: Path) -> None:
    """Editing the file, or installing different actions, never serves a stale entry."""
    registry = default_registry()
    cache = PlaybookCache(tmp_path, registry)
    assert cache.get(b"name: x", file="x.yaml", bundled=False) is None
    other = ActionRegistry(list(registry)[:3])
    assert registry_fingerprint(other) != registry_fingerprint(registry)


def test_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    """A damaged cache file is ignored, and the playbook is loaded from its YAML."""
    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "one.yaml").write_text(TEXT)
    cache_dir = tmp_path / "cache"
    registry = default_registry()
    load_library([folder], registry=registry, include_bundled=False, cache_dir=cache_dir)
    for entry in cache_dir.glob("*.json"):
        entry.write_text("{not json")
    loaded, errors = load_library(
        [folder], registry=registry, include_bundled=False, cache_dir=cache_dir
    )
    assert errors == []
    assert "cached_one" in loaded
