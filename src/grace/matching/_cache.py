"""The on-disk cache of compiled hyperscan databases: the matcher's only I/O, and optional.

Compiling 1000 patterns takes about half a second; loading the serialized database takes
a tenth of a millisecond. One file per database, named by its key (sha256 of the hyperscan
version, the flags and the expressions), so a changed playbook simply misses. The file holds
a header line (format, digest of the payload, the ids hyperscan refused) and the payload
(``hyperscan.dumpb``). Anything unreadable or not matching its digest is a miss: the caller
recompiles and :func:`store` rewrites it, atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ("CachedDatabase", "cache_key", "load", "store")

_MAGIC = b"grace-hyperscan-db 1\n"


@dataclass(frozen=True, slots=True)
class CachedDatabase:
    """A serialized database and the pattern ids hyperscan refused when it was compiled."""

    blob: bytes
    """``hyperscan.dumpb`` output."""
    rejected: tuple[int, ...]
    """Pattern ids left out of the database (checked with ``re`` instead)."""


def cache_key(version: str, flags: int, expressions: Sequence[tuple[int, bytes]]) -> str:
    """sha256 hex of everything the compiled database depends on."""
    digest = hashlib.sha256(f"{version}\0{flags}\0".encode())
    for pattern_id, expression in expressions:
        digest.update(f"{pattern_id}\0{len(expression)}\0".encode())
        digest.update(expression)
    return digest.hexdigest()


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"hyperscan-{key}.db"


def load(cache_dir: Path, key: str) -> CachedDatabase | None:
    """The cached database for ``key``, or None when absent, unreadable or corrupt."""
    try:
        data = _path(cache_dir, key).read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC):
        return None
    header_end = data.find(b"\n", len(_MAGIC))
    if header_end < 0:
        return None
    blob = data[header_end + 1 :]
    try:
        header = json.loads(data[len(_MAGIC) : header_end])
        digest, rejected = header["sha256"], header["rejected"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(rejected, list) or not all(isinstance(r, int) for r in rejected):
        return None
    if digest != hashlib.sha256(blob).hexdigest():
        return None
    return CachedDatabase(blob=blob, rejected=tuple(rejected))


def store(cache_dir: Path, key: str, database: CachedDatabase) -> None:
    """Write the database for ``key`` atomically; a cache that cannot be written is skipped."""
    header = json.dumps(
        {"sha256": hashlib.sha256(database.blob).hexdigest(), "rejected": list(database.rejected)}
    ).encode()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".hyperscan-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC + header + b"\n" + database.blob)
        Path(tmp).replace(_path(cache_dir, key))
    except OSError:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
