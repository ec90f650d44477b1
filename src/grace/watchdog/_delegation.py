"""The delegation grant: while it holds, healing belongs to the standalone watchdog alone.

The emergency protocol starts by granting it (audit ``watchdog.delegation_granted``) and
always ends by revoking it (``watchdog.delegation_revoked``). While a grant holds,
``grace serve`` does not restart or stop the watchdog, so the two never fight over a
recovery in progress. A grant carries an expiry: a watchdog that dies holding one does not
keep healing delegated forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grace.watchdog._audit import ACTOR, audit

if TYPE_CHECKING:
    from grace.store import Store

__all__ = ("Grant", "active_grant", "grant_delegation", "revoke_delegation")

SUBJECT = "healer:delegation"


@dataclass(frozen=True)
class Grant:
    """One delegation of healing to the standalone watchdog."""

    grant_id: str
    to: str
    reason: str
    granted_by: str
    granted_at: float
    """Wall-clock seconds."""
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def _path(data_dir: Path) -> Path:
    return data_dir / "watchdog" / "delegation.json"


def active_grant(data_dir: Path, now: float | None = None) -> Grant | None:
    """The grant in force (None: none, or it expired)."""
    now = time.time() if now is None else now
    try:
        grant = Grant(**json.loads(_path(data_dir).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return grant if grant.expires_at > now else None


def grant_delegation(
    data_dir: Path,
    store: Store | None,
    *,
    reason: str,
    ttl_s: float,
    by: str = ACTOR,
    context: dict[str, Any] | None = None,
) -> Grant:
    """Delegate healing to the standalone watchdog for at most ``ttl_s`` (audited)."""
    now = time.time()
    grant = Grant(
        grant_id=f"dlg_{uuid.uuid4().hex[:12]}",
        to="watchdog",
        reason=reason,
        granted_by=by,
        granted_at=now,
        expires_at=now + ttl_s,
    )
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(grant.to_json(), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    audit(
        store,
        "watchdog.delegation_granted",
        SUBJECT,
        {**grant.to_json(), **(context or {})},
        actor=by,
    )
    return grant


def revoke_delegation(
    data_dir: Path,
    store: Store | None,
    *,
    grant_id: str | None,
    outcome: str,
    by: str = ACTOR,
) -> bool:
    """End the delegation (audited). False when no such grant was in force (still audited:
    an expired grant is revoked on the record too)."""
    current = None
    with contextlib.suppress(OSError, ValueError, TypeError):
        current = Grant(**json.loads(_path(data_dir).read_text(encoding="utf-8")))
    held = current is not None and (grant_id is None or current.grant_id == grant_id)
    if held:
        with contextlib.suppress(OSError):
            _path(data_dir).unlink()
    audit(
        store,
        "watchdog.delegation_revoked",
        SUBJECT,
        {
            "grant_id": grant_id or (current.grant_id if current else None),
            "outcome": outcome,
            "was_in_force": held,
        },
        actor=by,
    )
    return held
