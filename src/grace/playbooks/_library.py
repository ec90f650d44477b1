"""Many playbooks at once: files and folders, the bundled library, ``grace validate``."""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from grace.actions import ActionRegistry
from grace.errors import PlaybookError, Problem
from grace.playbooks._cache import PlaybookCache
from grace.playbooks._loader import load_bytes, load_file
from grace.playbooks._playbook import Playbook

__all__ = ("PLAYBOOK_SUFFIXES", "bundled_dir", "load_library", "load_paths", "validate_paths")

PLAYBOOK_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
"""Files a folder scan picks up (hidden files and folders are skipped)."""

PathArg = str | PathLike[str]


def bundled_dir() -> Path:
    """The folder of playbooks that ship with Grace (``grace/library``)."""
    import grace

    return Path(grace.__file__).parent / "library"


def load_paths(
    paths: Iterable[PathArg], *, registry: ActionRegistry
) -> tuple[dict[str, Playbook], list[PlaybookError]]:
    """Load playbook files and folders (recursively, in sorted order).

    A playbook whose ``name`` another file already uses is an error naming both files; the
    first one loaded is kept.

    Returns:
        The playbooks by name, and one error per file that failed (or path that is missing).
    """
    found: dict[str, Playbook] = {}
    errors: list[PlaybookError] = []
    _load_into(found, errors, paths, registry=registry, bundled=False)
    return found, errors


def load_library(
    dirs: Iterable[PathArg],
    *,
    registry: ActionRegistry,
    include_bundled: bool = True,
    cache_dir: Path | None = None,
) -> tuple[dict[str, Playbook], list[PlaybookError]]:
    """The bundled playbooks, then the operator's folders.

    An operator's playbook named like a bundled one replaces it (that is how a bundled
    playbook is customised); two of the operator's own files with one name is an error.
    With ``cache_dir``, files loaded before (same bytes, same actions) come from the cache.

    Returns:
        The playbooks by name, and one error per file that failed.
    """
    found: dict[str, Playbook] = {}
    errors: list[PlaybookError] = []
    cache = PlaybookCache(cache_dir, registry) if cache_dir is not None else None
    if include_bundled:
        _load_into(found, errors, [bundled_dir()], registry=registry, bundled=True, cache=cache)
    _load_into(found, errors, dirs, registry=registry, bundled=False, cache=cache)
    return found, errors


def validate_paths(paths: Iterable[PathArg], *, registry: ActionRegistry) -> list[Problem]:
    """Every problem in these files and folders; an empty list means they are all valid."""
    _, errors = load_paths(paths, registry=registry)
    return [problem for error in errors for problem in error.problems]


def _load_into(
    found: dict[str, Playbook],
    errors: list[PlaybookError],
    paths: Iterable[PathArg],
    *,
    registry: ActionRegistry,
    bundled: bool,
    cache: PlaybookCache | None = None,
) -> None:
    seen: set[Path] = set()
    for item in paths:
        for file in _files(item, errors):
            if file.resolve() in seen:
                continue  # a folder and a file inside it, or the same path twice
            seen.add(file.resolve())
            try:
                playbook = _load_one(file, registry=registry, bundled=bundled, cache=cache)
            except PlaybookError as exc:
                errors.append(exc)
                continue
            _add(found, errors, playbook)


def _load_one(
    file: Path, *, registry: ActionRegistry, bundled: bool, cache: PlaybookCache | None
) -> Playbook:
    if cache is None:
        return load_file(file, registry=registry, bundled=bundled)
    try:
        raw = file.read_bytes()
    except OSError:
        return load_file(file, registry=registry, bundled=bundled)  # reports the read error
    cached = cache.get(raw, file=str(file), bundled=bundled)
    if cached is not None:
        return cached
    playbook = load_bytes(raw, file=str(file), registry=registry, bundled=bundled)
    cache.put(raw, playbook)
    return playbook


def _add(found: dict[str, Playbook], errors: list[PlaybookError], playbook: Playbook) -> None:
    other = found.get(playbook.name)
    if other is None or (other.bundled and not playbook.bundled):
        found[playbook.name] = playbook
        return
    line = playbook.line_of("name")
    message = f"name: playbook name '{playbook.name}' is already used by {other.where('name')}"
    hint = "playbook names must be unique: rename one of the two"
    problem = Problem(playbook.file, line, 1 if line else 0, message, hint, "name")
    errors.append(PlaybookError(problem))


def _files(item: PathArg, errors: list[PlaybookError]) -> list[Path]:
    """The playbook files ``item`` stands for (itself, or a folder's, sorted)."""
    path = Path(item)
    if path.is_dir():
        return sorted(
            f
            for f in path.rglob("*")
            if f.suffix in PLAYBOOK_SUFFIXES
            and f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
    if path.exists():
        return [path]
    hint = "check the path; give playbook files (.yaml, .yml) or folders of them"
    errors.append(PlaybookError(Problem(str(item), 0, 0, "no such file or folder", hint)))
    return []
