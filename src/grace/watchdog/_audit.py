"""Audit entries of the watchdog (``watchdog.*``): written, or logged when the store is away.

A healer must not stop healing because the database hiccups: a failed audit write is logged
with the entry it could not write, and the healing goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grace.logs import get_logger

if TYPE_CHECKING:
    from grace.store import Store

__all__ = ("ACTOR", "audit")

ACTOR = "watchdog"
"""The audit actor of the watchdog's automatic actions."""

log = get_logger("watchdog")


def audit(
    store: Store | None,
    action: str,
    subject: str,
    payload: dict[str, Any],
    *,
    actor: str = ACTOR,
) -> bool:
    """Append one audit entry; False (and an error log line) when it could not be written."""
    from grace.audit._chain import AuditDraft  # the audit package loads SQLAlchemy: not at import

    if store is None:
        log.warning(f"{action} {subject} {payload} (no store: not audited)", event_type=action)
        return False
    try:
        store.append_audit([AuditDraft(actor, action, subject, payload)])
    except Exception as exc:  # noqa: BLE001 - see the module docstring
        log.error(  # noqa: TRY400 - one line: the traceback of a failed insert adds nothing
            f"could not audit {action} {subject} {payload}: {exc!r}",
            event_type="watchdog.audit_failed",
        )
        return False
    log.info(f"{action} {subject} {payload}", event_type=action)
    return True
