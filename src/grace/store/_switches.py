"""Playbook switches: an operator turns a playbook off (and on again) for every node at once.

A disabled playbook starts nothing, automatic or manual, until it is enabled: the governor's
``disabled`` guard blocks it with who turned it off, when and why. Each switch is a row in
``controls`` (``playbook.disabled:<name>``), audited (``playbook.disabled`` /
``playbook.enabled``) in the same transaction.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from grace.audit._chain import AuditDraft
from grace.store._reads import Reads
from grace.store._tables import controls as _controls

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ("DISABLED_PREFIX", "PlaybookSwitches")

DISABLED_PREFIX = "playbook.disabled:"
SWITCHES_FRESH_S = 0.1
"""How stale this process's view of the switches may be (seconds); its own changes at once."""


class PlaybookSwitches(Reads):
    """The store's playbook switches (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    _switch_cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

    def disabled_playbooks(self) -> dict[str, dict[str, Any]]:
        """Disabled playbooks by name: ``{"by", "reason", "at"}`` for each."""
        cached = self._switch_cache
        if cached is not None and time.monotonic() - cached[0] < SWITCHES_FRESH_S:
            return cached[1]
        with self._read() as conn:
            rows = conn.execute(
                select(_controls.c.name, _controls.c.value).where(
                    _controls.c.name.startswith(DISABLED_PREFIX)
                )
            ).all()
        found = {str(r.name)[len(DISABLED_PREFIX) :]: dict(r.value) for r in rows}
        self._switch_cache = (time.monotonic(), found)
        return found

    def disabled_playbook(self, name: str) -> dict[str, Any] | None:
        """Who disabled playbook ``name``, when and why; None while it is enabled."""
        return self.disabled_playbooks().get(name)

    def disable_playbook(self, name: str, *, by: str, reason: str) -> bool:
        """Turn ``name`` off; False when it was already off (the first reason stands)."""
        key = DISABLED_PREFIX + name
        with self.transaction() as tx:
            if tx.conn.execute(select(_controls.c.name).where(_controls.c.name == key)).first():
                return False
            value = {"by": by, "reason": reason, "at": tx.now.isoformat()}
            tx.conn.execute(
                insert(_controls).values(name=key, value=value, set_by=by, set_at=tx.now)
            )
            tx.audit(AuditDraft(by, "playbook.disabled", name, {"reason": reason}))
            self._switch_cache = None
        return True

    def enable_playbook(self, name: str, *, by: str, reason: str = "") -> bool:
        """Turn ``name`` on again; False when it was not off."""
        with self.transaction() as tx:
            gone = tx.conn.execute(
                delete(_controls)
                .where(_controls.c.name == DISABLED_PREFIX + name)
                .returning(_controls.c.name)
            ).all()
            if gone:
                tx.audit(AuditDraft(by, "playbook.enabled", name, {"reason": reason}))
            self._switch_cache = None
        return bool(gone)
