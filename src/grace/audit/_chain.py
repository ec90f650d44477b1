"""The hash chain, pure: no database, no clock. Both the SQLite and the cluster writer use it.

``hash = sha256(prev_hash + "\\n" + canonical_json(entry))`` where the canonical JSON of an entry
is ``{"action","actor","payload","seq","subject","time"}`` with sorted keys, no spaces, UTF-8.
The payload is stored as its own canonical JSON text, so verifying a row costs a few string
joins and one sha256, not a JSON round trip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ("GENESIS", "AuditDraft", "AuditEntry", "canonical_entry", "canonical_payload", "link")

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def canonical_payload(payload: Any) -> str:
    """The payload's canonical JSON text (sorted keys, no spaces, non-JSON values as strings)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


def canonical_entry(seq: int, time: str, actor: str, action: str, subject: str, payload_json: str) -> str:
    """Canonical JSON of one entry; equal to ``json.dumps`` of the dict with sorted keys."""
    return (
        f'{{"action":{_dumps(action)},"actor":{_dumps(actor)},"payload":{payload_json},'
        f'"seq":{seq},"subject":{_dumps(subject)},"time":{_dumps(time)}}}'
    )


def link(prev_hash: str, seq: int, time: str, actor: str, action: str, subject: str, payload_json: str) -> str:
    """The hash of an entry chained after ``prev_hash``."""
    text = prev_hash + "\n" + canonical_entry(seq, time, actor, action, subject, payload_json)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An audit record before it is chained: what happened, by whom, to what."""

    actor: str
    """Who did it: ``engine``, ``runner``, ``cli:alice``, ``token:ops-bot``."""
    action: str
    """What happened, dotted: ``run.created``, ``step.started``, ``decision.suppressed``."""
    subject: str
    """What it happened to: a run id, a playbook name, ``audit``."""
    payload: dict[str, Any] = field(default_factory=dict)
    """Details (a reason, a status, parameters with secrets redacted)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A chained, committed audit record."""

    seq: int
    time: str
    """ISO-8601 UTC, exactly as hashed."""
    actor: str
    action: str
    subject: str
    payload_json: str
    prev_hash: str
    hash: str

    @property
    def payload(self) -> dict[str, Any]:
        value = json.loads(self.payload_json)
        return value if isinstance(value, dict) else {"value": value}

    def to_dict(self) -> dict[str, Any]:
        """The JSONL export / mirror form."""
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
