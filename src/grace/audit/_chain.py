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
from datetime import UTC, datetime
from typing import Any

__all__ = (
    "GENESIS",
    "AuditDraft",
    "AuditEntry",
    "Checkpoint",
    "canonical_entry",
    "canonical_payload",
    "format_time",
    "link",
)

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

# What json.dumps(ensure_ascii=False) does to one str, without the per-call dispatch (C code).
_quote = json.encoder.encode_basestring
# json.dumps(payload, <the canonical options>) builds this same encoder on every call.
_encode_payload = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
).encode


def format_time(moment: datetime) -> str:
    """``moment`` as the one time format the chain hashes: ``2024-05-01T12:00:00.000000Z``.

    Always UTC, always six fractional digits, always ``Z``; a naive datetime is taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_payload(payload: Any) -> str:
    """The payload's canonical JSON text (sorted keys, no spaces, non-JSON values as strings)."""
    return _encode_payload(payload)


def canonical_entry(
    seq: int, time: str, actor: str, action: str, subject: str, payload_json: str
) -> str:
    """Canonical JSON of one entry; equal to ``json.dumps`` of the dict with sorted keys."""
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},"payload":{payload_json},'
        f'"seq":{seq:d},"subject":{_quote(subject)},"time":{_quote(time)}}}'
    )


def link(
    prev_hash: str, seq: int, time: str, actor: str, action: str, subject: str, payload_json: str
) -> str:
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
    """Position in the chain, from 1, dense."""
    time: str
    """ISO-8601 UTC, exactly as hashed."""
    actor: str
    action: str
    subject: str
    payload_json: str
    """The payload's canonical JSON text, exactly as hashed."""
    prev_hash: str
    """``hash`` of entry ``seq - 1`` (:data:`GENESIS` for entry 1)."""
    hash: str
    """``link(prev_hash, seq, time, actor, action, subject, payload_json)``."""

    @property
    def payload(self) -> dict[str, Any]:
        """The payload, parsed (a non-object payload comes back as ``{"value": ...}``)."""
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

    def to_json(self) -> str:
        """:meth:`to_dict` as one compact JSON line, built without re-parsing the payload.

        Equal to ``json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))``
        whenever the payload is a JSON object (always, for entries written by Grace).
        """
        return (
            f'{{"seq":{self.seq:d},"time":{_quote(self.time)},"actor":{_quote(self.actor)},'
            f'"action":{_quote(self.action)},"subject":{_quote(self.subject)},'
            f'"payload":{self.payload_json},"prev_hash":{_quote(self.prev_hash)},'
            f'"hash":{_quote(self.hash)}}}'
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An Ed25519 signature over the chain head at ``seq``.

    The signed message is the ASCII text ``f"{seq}:{hash}"`` (for example
    ``"1000:9f86d0…"``); ``signed_at`` is informative and not signed.
    """

    seq: int
    """The entry whose hash is signed."""
    hash: str
    """That entry's ``hash`` (64 lowercase hex digits)."""
    signed_at: str
    """When it was signed, in the chain's time format."""
    key_id: str
    """First 16 hex digits of sha256 over the raw 32-byte public key."""
    signature: str
    """The 64-byte Ed25519 signature, lowercase hex."""
