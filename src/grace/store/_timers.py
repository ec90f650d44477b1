"""Timers: "run playbook X with these vars at time T", kept as rows so they survive a restart.

``playbook.schedule`` writes one row per timer in ``controls`` (``timer:<key>``); a newer
timer with the same key replaces one not fired yet (a re-scheduled restore moves, it does not
double). ``grace serve``'s pipeline looks for due timers every tick and asks the engine for a
governed run with the idempotency key ``timer:<id>``, then marks the timer fired: a crash
between the two re-asks with the same key and gets the same run, so each timer starts at
most one run, and starts it even across a restart. Scheduling and firing are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from grace.audit._chain import AuditDraft
from grace.store._tables import controls as _controls

if TYPE_CHECKING:
    from grace.store._store import Store

__all__ = ("MAX_PENDING_TIMERS", "TIMER_PREFIX", "Timers")

TIMER_PREFIX = "timer:"
MAX_KEY = 100 - len(TIMER_PREFIX)
"""Longest timer key (the ``controls`` name column holds 100 characters)."""
MAX_PENDING_TIMERS = 1000
"""Most timers waiting at once: scheduling one more is refused (a runaway playbook)."""


class Timers:
    """Timers in the store's ``controls`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def schedule(
        self,
        key: str,
        *,
        playbook: str,
        vars: dict[str, Any],
        due_at: datetime,
        by: str,
        parent_run_id: str | None = None,
        reason: str = "",
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Add (or replace) timer ``key``; returns ``(timer, the pending timer it replaced)``.

        Raises:
            ValueError: the key is empty or too long, or too many timers are pending.
        """
        if not key or len(key) > MAX_KEY:
            msg = f"timer key {key!r} must be 1 to {MAX_KEY} characters"
            raise ValueError(msg)
        name = f"{TIMER_PREFIX}{key}"
        with self.store.transaction() as tx:
            rows = tx.conn.execute(
                select(_controls.c.name, _controls.c.value)
                .where(_controls.c.name.startswith(TIMER_PREFIX))
                .with_for_update()
            ).all()
            old = next((dict(r[1]) for r in rows if r[0] == name), None)
            pending = sum(1 for r in rows if r[1].get("status") == "pending" and r[0] != name)
            if pending >= MAX_PENDING_TIMERS:
                msg = f"{pending} timers are already pending (at most {MAX_PENDING_TIMERS})"
                raise ValueError(msg)
            timer = {
                "id": self.store.ids.new("tmr"),
                "key": key,
                "playbook": playbook,
                "vars": vars,
                "due_at": due_at.isoformat(),
                "status": "pending",
                "by": by,
                "parent_run_id": parent_run_id,
                "reason": reason,
                "scheduled_at": tx.now.isoformat(),
                "run_id": None,
                "fired_at": None,
                "error": None,
            }
            tx.conn.execute(delete(_controls).where(_controls.c.name == name))
            tx.conn.execute(
                insert(_controls).values(name=name, value=timer, set_by=by, set_at=tx.now)
            )
            tx.audit(AuditDraft(by, "timer.scheduled", f"timer:{key}", timer))
        replaced = old if old is not None and old.get("status") == "pending" else None
        return timer, replaced

    def all(self) -> list[dict[str, Any]]:
        """Every timer (pending and fired), soonest first."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(_controls.c.value).where(_controls.c.name.startswith(TIMER_PREFIX))
            ).all()
        return sorted((dict(r[0]) for r in rows if isinstance(r[0], dict)), key=_due_at)

    def get(self, key: str) -> dict[str, Any] | None:
        """Timer ``key``, or None."""
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(_controls.c.value).where(_controls.c.name == f"{TIMER_PREFIX}{key}")
            ).first()
        return None if row is None else dict(row[0])

    def due(self, now: datetime, *, limit: int = 100) -> list[dict[str, Any]]:
        """Pending timers due at ``now``, soonest first."""
        due = [
            t
            for t in self.all()
            if t.get("status") == "pending"
            and all(isinstance(t.get(k), str) for k in ("id", "key", "playbook"))
            and _due_at(t) <= now
        ]
        return due[:limit]

    def mark_fired(
        self, timer: dict[str, Any], *, run_id: str | None, status: str, error: str | None = None
    ) -> bool:
        """Record that ``timer`` fired (and what it started); False when it was replaced meanwhile."""
        name = f"{TIMER_PREFIX}{timer['key']}"
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                select(_controls.c.value).where(_controls.c.name == name).with_for_update()
            ).first()
            if row is None or dict(row[0]).get("id") != timer["id"]:
                return False
            value = {
                **dict(row[0]),
                "status": "fired" if error is None else "failed",
                "run_id": run_id,
                "run_status": status,
                "fired_at": tx.now.isoformat(),
                "error": error,
            }
            tx.conn.execute(update(_controls).where(_controls.c.name == name).values(value=value))
            subject = f"timer:{timer['key']}"
            tx.audit(AuditDraft("scheduler", "timer.fired", subject, value))
        return True

    def cancel(self, key: str, *, by: str) -> bool:
        """Remove timer ``key``; False when there was none."""
        name = f"{TIMER_PREFIX}{key}"
        with self.store.transaction() as tx:
            gone = tx.conn.execute(
                delete(_controls).where(_controls.c.name == name).returning(_controls.c.value)
            ).first()
            if gone is None:
                return False
            tx.audit(AuditDraft(by, "timer.cancelled", f"timer:{key}", dict(gone[0])))
        return True


def _due_at(timer: dict[str, Any]) -> datetime:
    """When ``timer`` is due; a row that says no valid time never is (it is listed, not fired)."""
    try:
        due = datetime.fromisoformat(str(timer.get("due_at")))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return due if due.tzinfo is not None else due.replace(tzinfo=UTC)
