"""A cache of loaded playbooks, so a daemon with a thousand playbooks starts in about a second.

Parsing YAML with positions (ruamel's round-trip loader) costs ~1 ms per file; re-validating a
cached spec costs ~20 µs. An entry is keyed by the file's bytes, the installed actions and
Grace's version, so any change to any of them is a miss. The actions count by
:meth:`ActionRegistry.fingerprint`: the built-ins by their source files (a hit imports no action
module), plug-in actions by name and parameter schema. Entries are JSON (the validated spec plus
the line map), not pickles: the cache folder cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grace.actions import ActionRegistry
from grace.playbooks._model import PlaybookSpec
from grace.playbooks._playbook import Playbook

__all__ = ("PlaybookCache",)

_FORMAT = 1


def registry_fingerprint(registry: ActionRegistry) -> str:
    """A digest that changes whenever any action's name or parameter schema could have (a
    changed action invalidates all), computed without importing the built-in actions."""
    import grace

    parts = [
        f"grace={getattr(grace, '__version__', '?')}",
        f"format={_FORMAT}",
        f"actions={registry.fingerprint()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class PlaybookCache:
    """JSON entries under ``folder``; every failure to read or write one is simply a miss."""

    def __init__(self, folder: Path, registry: ActionRegistry) -> None:
        self.folder = folder
        self.salt = registry_fingerprint(registry)
        self.hits = 0
        self.misses = 0

    def _path(self, raw: bytes) -> Path:
        key = hashlib.sha256(self.salt.encode() + b"\0" + raw).hexdigest()
        return self.folder / f"{key}.json"

    def get(self, raw: bytes, *, file: str, bundled: bool) -> Playbook | None:
        """The cached playbook for these bytes, or None."""
        try:
            data = json.loads(self._path(raw).read_text(encoding="utf-8"))
            spec = PlaybookSpec.model_validate(data["spec"])
            lines = {str(k): int(v) for k, v in data["lines"].items()}
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            self.misses += 1
            return None
        self.hits += 1
        return Playbook(spec=spec, file=file, lines=lines, bundled=bundled)

    def put(self, raw: bytes, playbook: Playbook) -> None:
        """Remember a freshly loaded playbook (atomically; errors are ignored)."""
        entry: dict[str, Any] = {
            "spec": playbook.spec.model_dump(mode="json", by_alias=True),
            "lines": playbook.lines,
        }
        path = self._path(raw)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entry, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            return
