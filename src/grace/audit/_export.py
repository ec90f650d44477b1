"""JSONL export of the chain and its checkpoints, straight from the database (no key needed)."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, TextIO

from grace.audit._chain import AuditEntry
from grace.store import _audit_sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ("export_checkpoints_jsonl", "export_jsonl")


def export_jsonl(engine: Engine, out: TextIO, from_seq: int = 1) -> int:
    """Write entries from ``from_seq`` on to ``out``, one JSON object per line; returns how many.

    The lines are ``AuditEntry.to_json()``, the same as the mirror's. Read in one snapshot,
    without blocking writers.
    """
    written = 0
    with _audit_sql.snapshot(engine) as snap:
        for page in snap.pages(from_seq):
            out.write("".join(AuditEntry(*row).to_json() + "\n" for row in page))
            written += len(page)
    return written


def export_checkpoints_jsonl(engine: Engine, out: TextIO) -> int:
    """Write every signed checkpoint to ``out`` as JSONL; returns how many.

    One object per line: ``seq``, ``hash``, ``signed_at``, ``key_id``, ``signature``.
    """
    with _audit_sql.snapshot(engine) as snap:
        checkpoints = snap.checkpoints()
    for cp in checkpoints:
        out.write(json.dumps(dataclasses.asdict(cp), separators=(",", ":")) + "\n")
    return len(checkpoints)
