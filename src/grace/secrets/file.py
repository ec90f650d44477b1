"""The ``file`` backend: a directory of files, a JSON file, or a dotenv file.

- A **directory** holds one file per secret, named after the key, like Docker's and
  Kubernetes' mounted secrets (``/run/secrets/GITHUB_TOKEN``); a final line break is dropped.
- A **JSON** file holds an object; ``field`` may be a dotted path (``github.token``).
- A **dotenv** file holds ``KEY=value`` lines, read exactly as ``env.set`` writes them.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from grace.secrets._base import MAX_SECRET_BYTES, Hit, Miss, SecretBackend

__all__ = ("FileBackend", "dotenv_values", "read_small")

Format = Literal["auto", "dir", "json", "dotenv"]


def dotenv_values(text: str) -> dict[str, str]:
    """Every ``KEY=value`` of a dotenv text (the last assignment of a key wins)."""
    # The same reader env.set uses, so what Grace writes is what it reads back.
    from grace.actions.builtin.dotenv import _assignments, _lines

    return {key: found[-1].value for key, found in _assignments(_lines(text)).items()}


def read_small(path: Path, limit: int = MAX_SECRET_BYTES) -> str | Miss:
    """The UTF-8 text of a regular file of at most ``limit`` bytes, or why it cannot be read.

    The Miss has an empty backend label: callers fill theirs in.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return Miss("", f"{path} does not exist")
    except OSError as exc:
        return Miss("", f"{path} cannot be read: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return Miss("", f"{path} is not a regular file")
    if st.st_size > limit:
        return Miss("", f"{path} holds {st.st_size} bytes, more than a secret ({limit} at most)")
    try:
        return path.read_bytes()[:limit].decode("utf-8")
    except UnicodeDecodeError:
        return Miss("", f"{path} is not UTF-8 text")
    except OSError as exc:
        return Miss("", f"{path} cannot be read: {exc.strerror or exc}")


class FileBackend(SecretBackend):
    """``{type: file, path: /run/secrets}``: a secrets directory, or a JSON or dotenv file."""

    kind: ClassVar[str] = "file"
    type: Literal["file"] = "file"
    path: Path
    """A directory (one file per key), a ``.json`` file, or a dotenv file."""
    format: Format = "auto"
    """``auto``: a directory is ``dir``; a file ending in ``.json`` or starting with ``{`` is
    ``json``; any other file is ``dotenv``."""
    field: str | None = Field(default=None, min_length=1, max_length=500)
    """The entry to read (default: the key): a file name, a dotted JSON path, a dotenv name."""

    def _miss(self, reason: str) -> Miss:
        return Miss(self.label, reason)

    def lookup(self, key: str) -> Hit | Miss:
        path = self.path.expanduser()
        entry = self.field or key
        auto = self.format == "auto"
        fmt = self.format
        if auto:
            fmt = "dir" if path.is_dir() else "json" if path.suffix == ".json" else "dotenv"
        if fmt == "dir":
            if "/" in entry or entry in (".", ".."):
                return self._miss(f"{entry!r} is not a file name")
            text = read_small(path / entry)
            if isinstance(text, Miss):
                return self._miss(text.reason)
            return self.hit(f"file:{path / entry}", text.rstrip("\r\n"))
        text = read_small(path)
        if isinstance(text, Miss):
            return self._miss(text.reason)
        if auto and text.lstrip().startswith("{"):
            fmt = "json"
        if fmt == "json":
            return self._from_json(path, text, entry)
        values = dotenv_values(text)
        if entry not in values:
            return self._miss(f"{path} has no {entry}= line")
        return self.hit(f"file:{path}#{entry}", values[entry])

    def _from_json(self, path: Path, text: str, entry: str) -> Hit | Miss:
        try:
            node: Any = json.loads(text)
        except ValueError as exc:
            # The message names the position only: json's messages never quote the document.
            return self._miss(f"{path} is not valid JSON ({exc})")
        for part in entry.split("."):
            if not isinstance(node, dict) or part not in node:
                return self._miss(f"{path} has no {entry!r} entry")
            node = node[part]
        if not isinstance(node, str):
            return self._miss(f"{path} entry {entry!r} is a {type(node).__name__}, not a string")
        return self.hit(f"file:{path}#{entry}", node)
