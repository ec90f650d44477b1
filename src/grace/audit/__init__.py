"""The tamper-evident audit log: a sha256 hash chain with Ed25519-signed checkpoints.

Every decision and run transition becomes an :class:`AuditEntry`. ``verify`` re-walks the
chain and names the first entry that was edited, deleted, reordered or inserted; ``docs/audit.md``
gives the format exactly, so that anyone can check an export without Grace.
"""

from __future__ import annotations

# The pure chain first: the store imports it, and it imports nothing from the store.
from grace.audit._chain import (
    GENESIS,
    AuditDraft,
    AuditEntry,
    Checkpoint,
    canonical_entry,
    canonical_payload,
    format_time,
    link,
)
from grace.audit._export import export_checkpoints_jsonl, export_jsonl
from grace.audit._log import DEFAULT_MIRROR, AuditLog
from grace.audit._signing import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    SigningKey,
    check_key_files,
    checkpoint_message,
    key_id,
    load_or_create_key,
    load_public_key,
    load_public_keys,
    verify_checkpoint,
)
from grace.audit._verify import Progress, VerifyReport, verify

__all__ = (
    "DEFAULT_MIRROR",
    "GENESIS",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "AuditDraft",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "Progress",
    "SigningKey",
    "VerifyReport",
    "canonical_entry",
    "canonical_payload",
    "check_key_files",
    "checkpoint_message",
    "export_checkpoints_jsonl",
    "export_jsonl",
    "format_time",
    "key_id",
    "link",
    "load_or_create_key",
    "load_public_key",
    "load_public_keys",
    "verify",
    "verify_checkpoint",
)
