"""The pre-boot snapshot: config files copied, SQLite databases backed up online; and the rollback.

A snapshot lives in ``<data_dir>/snapshots/<id>/`` with a ``manifest.json`` listing each path,
whether it existed, its size and SHA-256. Databases are copied with SQLite's online backup API
(``sqlite3.Connection.backup``): consistent even while a service writes, and restored the same
way, page by page into the live file, so connections other processes hold stay valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from grace.errors import GraceError

__all__ = ("Snapshot", "SnapshotError", "SnapshotItem", "restore_snapshot", "take_snapshot")


class SnapshotError(GraceError):
    """The pre-boot snapshot could not be taken (the boot does not start without it)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class SnapshotItem:
    """One file or database in a snapshot."""

    path: str
    """The live path (absolute)."""
    kind: Literal["file", "sqlite"]
    existed: bool
    """False: the file did not exist before the boot (a rollback deletes it)."""
    stored_as: str = ""
    """The copy's name inside the snapshot folder."""
    sha256: str = ""
    size: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A taken snapshot."""

    id: str
    folder: Path
    taken_at: str
    items: list[SnapshotItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the manifest)."""
        return {
            "id": self.id,
            "taken_at": self.taken_at,
            "items": [
                {
                    "path": i.path,
                    "kind": i.kind,
                    "existed": i.existed,
                    "stored_as": i.stored_as,
                    "sha256": i.sha256,
                    "size": i.size,
                }
                for i in self.items
            ],
        }


def take_snapshot(
    root: Path, *, files: list[Path], databases: list[Path], now: datetime, label: str
) -> Snapshot:
    """Copy ``files`` and back up ``databases`` into a new folder under ``root``."""
    snap_id = f"snap_{now:%Y%m%d_%H%M%S}_{label}_{secrets.token_hex(3)}"
    folder = root / snap_id
    folder.mkdir(parents=True)
    items: list[SnapshotItem] = []
    seen: set[str] = set()
    for index, (path, kind) in enumerate(
        [(p, "file") for p in files] + [(p, "sqlite") for p in databases]
    ):
        live = str(Path(path).absolute())
        if live in seen:
            continue
        seen.add(live)
        if not Path(live).is_file():
            items.append(SnapshotItem(live, kind, existed=False))  # type: ignore[arg-type]
            continue
        stored = f"{index:03d}_{Path(live).name}"
        try:
            if kind == "sqlite":
                _backup_db(Path(live), folder / stored)
            else:
                shutil.copy2(live, folder / stored)
        except (OSError, sqlite3.Error) as exc:
            what = "SQLite database" if kind == "sqlite" else "file"
            msg = f"cannot snapshot the {what} {live}: {exc}"
            hint = (
                "boot.snapshot_databases lists SQLite files only; config files go in boot.snapshot_files"
                if kind == "sqlite"
                else "check the path and its permissions"
            )
            raise SnapshotError(msg, hint=hint) from exc
        data = (folder / stored).read_bytes()
        items.append(
            SnapshotItem(
                live,
                kind,  # type: ignore[arg-type]
                existed=True,
                stored_as=stored,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
        )
    snapshot = Snapshot(snap_id, folder, now.isoformat(), items)
    (folder / "manifest.json").write_text(
        json.dumps(snapshot.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    return snapshot


def restore_snapshot(snapshot: Snapshot) -> tuple[list[str], list[str]]:
    """Put every item back as it was.

    Every item is attempted even when one fails.

    Returns:
        The live paths put back (files that changed or appeared since the snapshot, and every
        database: restored page by page whether or not it changed), and one message per item
        that could not be restored.
    """
    restored: list[str] = []
    errors: list[str] = []
    for item in snapshot.items:
        live = Path(item.path)
        try:
            if not item.existed:
                if live.exists():
                    live.unlink()
                    restored.append(item.path)
                continue
            copy = snapshot.folder / item.stored_as
            if item.kind == "sqlite":
                _backup_db(copy, live)
            elif live.is_file() and hashlib.sha256(live.read_bytes()).hexdigest() == item.sha256:
                continue  # unchanged: nothing to restore
            else:
                _replace_file(copy, live)
        except (OSError, sqlite3.Error) as exc:
            errors.append(f"{item.path}: {exc}")
            continue
        restored.append(item.path)
    return restored, errors


def _backup_db(source: Path, target: Path) -> None:
    """SQLite's online backup of ``source`` into ``target`` (created or overwritten)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _replace_file(copy: Path, live: Path) -> None:
    """Atomically replace ``live`` with the bytes (and mode) of ``copy``."""
    live.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=live.parent, prefix=f".{live.name}.restore.")
    os.close(fd)
    try:
        shutil.copy2(copy, tmp)
        os.replace(tmp, live)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
