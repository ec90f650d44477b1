"""Service requests: how ``grace services start|stop|restart`` reaches a running supervisor.

The CLI writes one row per service in ``controls`` (``service.request:<name>``, or
``service.request:*`` for all); the supervisor inside ``grace serve`` takes (reads and
deletes) them a few times a second. A newer request for the same service replaces an older
one not yet taken. Each request is audited when it is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from grace.audit._chain import AuditDraft
from grace.store._tables import controls as _controls

if TYPE_CHECKING:
    from grace.store._store import Store

__all__ = ("REQUEST_PREFIX", "ServiceControls")

REQUEST_PREFIX = "service.request:"


class ServiceControls:
    """Service requests in the store's ``controls`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def request(self, service: str, action: str, *, by: str, reason: str = "") -> dict[str, Any]:
        """Ask the supervisor to ``action`` (start, stop, restart) ``service`` (``*``: all)."""
        name = f"{REQUEST_PREFIX}{service}"
        with self.store.transaction() as tx:
            value = {
                "service": service,
                "action": action,
                "by": by,
                "reason": reason,
                "at": tx.now.isoformat(),
                "id": self.store.ids.new("sreq"),
            }
            tx.conn.execute(delete(_controls).where(_controls.c.name == name))
            tx.conn.execute(
                insert(_controls).values(name=name, value=value, set_by=by, set_at=tx.now)
            )
            tx.audit(AuditDraft(by, "service.requested", f"service:{service}", value))
        return value

    def take(self) -> list[dict[str, Any]]:
        """Every pending request, oldest first, removed from the table."""
        with self.store.transaction() as tx:
            rows = tx.conn.execute(
                select(_controls.c.name, _controls.c.value)
                .where(_controls.c.name.startswith(REQUEST_PREFIX))
                .order_by(_controls.c.set_at)
                .with_for_update()
            ).all()
            if rows:
                tx.conn.execute(delete(_controls).where(_controls.c.name.in_([r[0] for r in rows])))
        return [dict(r[1]) for r in rows]

    def pending(self) -> list[dict[str, Any]]:
        """Requests not taken yet (read only)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(_controls.c.value).where(_controls.c.name.startswith(REQUEST_PREFIX))
            ).all()
        return [dict(r[0]) for r in rows]
