"""The local spool: reports Grace has not acknowledged yet, one JSON line each, fsynced.

Layout of a spool directory (one per service):

```text
spool-<pid>.jsonl        reports a process still has to deliver (it rewrites it as they go out)
claim-<pid>-<n>.jsonl    another process's leftovers, claimed by process <pid> (rename is atomic)
spool-rejected.jsonl     reports Grace refused for good (4xx), each with the reason
```

A file is only ever rewritten by replacing it (write a temporary file, fsync, rename), so a crash
leaves either the old or the new content. A torn last line (a crash during an append) is moved to
the rejected file rather than dropped silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

__all__ = ("REJECTED_NAME", "Spool")

REJECTED_NAME = "spool-rejected.jsonl"
_OWNED = re.compile(r"^(?:spool-(\d+)|claim-(\d+)-\d+)\.jsonl$")


class Spool:
    """One process's spool file in ``directory``, plus adoption of dead processes' files."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"spool-{self.pid}.jsonl"
        self.rejected_path = directory / REJECTED_NAME
        self._claims = 0

    def append(self, items: list[dict[str, Any]]) -> None:
        """Add reports to this process's file, durably (fsync before returning)."""
        if items:
            _append_lines(self.path, [json.dumps(i, separators=(",", ":")) for i in items])

    def rewrite(self, items: list[dict[str, Any]]) -> None:
        """Replace this process's file with exactly ``items`` (none: remove it)."""
        if not items:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _sync_dir(self.directory)

    def reject(self, item: dict[str, Any], reason: str) -> None:
        """Set a report aside for good, with why (kept for an operator, never resent)."""
        record = {"rejected_at": time.time(), "reason": reason, **item}
        _append_lines(self.rejected_path, [json.dumps(record, separators=(",", ":"))])

    def adopt(self) -> list[dict[str, Any]]:
        """Take over the leftovers of processes that are gone; return their reports, in order.

        Each file is claimed by an atomic rename, so two starting processes never both take it;
        its reports are appended to this process's file before the claimed file is removed.
        """
        if not self.directory.is_dir():
            return []
        items: list[dict[str, Any]] = []
        own: list[tuple[Path, str]] = []  # (file to read, its name before the claim)
        for path in sorted(self.directory.iterdir(), key=_mtime):
            match = _OWNED.match(path.name)
            if match is None:
                continue
            owner = int(match.group(1) or match.group(2))
            if path == self.path:
                own.append((path, path.name))  # an earlier process with our pid: ours now
                continue
            if owner != self.pid and _alive(owner):
                continue
            self._claims += 1
            claimed = self.directory / f"claim-{self.pid}-{time.time_ns()}{self._claims}.jsonl"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            own.append((claimed, path.name))
        seen: set[str] = set()
        for path, name in own:
            for item in self._read(path, name):
                key = str(item.get("event_key"))
                if key not in seen:
                    seen.add(key)
                    items.append(item)
        self.rewrite(items)
        for path, _ in own:
            if path != self.path:
                path.unlink(missing_ok=True)
        return items

    def _read(self, path: Path, name: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return out
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if isinstance(item, dict) and isinstance(item.get("event"), dict):
                out.append(item)
            else:
                self.reject({"line": line.decode("utf-8", "replace")}, f"unreadable line in {name}")
        return out


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())
    if created:
        _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    """Make a new or renamed entry durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX). Elsewhere every other pid counts as gone."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
