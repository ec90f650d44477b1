"""What the supervisor tells the rest of Grace: audit entries, events, tickets.

Writes go through one queue, in order, off the restart path: a crash is answered with a new
process first and recorded a moment later (the record of the exit still precedes the record
of the restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grace.audit._chain import AuditDraft
from grace.events import Event, Severity
from grace.logs import get_logger

if TYPE_CHECKING:
    from grace.store import Store

__all__ = ("ACTOR", "Emit", "Recorder")

ACTOR = "supervisor"
"""The audit actor of automatic actions."""

Emit = Callable[[Event, str | None], Awaitable[Any]]
"""The pipeline's ``emit(event, event_key)`` (``grace serve``); events then reach playbooks."""

log = get_logger("supervisor")


@dataclass
class _Item:
    audit: AuditDraft | None = None
    event: Event | None = None
    event_key: str | None = None
    ticket: dict[str, Any] | None = None
    done: asyncio.Future[None] | None = field(default=None, repr=False)


class Recorder:
    """Queues audit entries, events and tickets and writes them in order."""

    def __init__(self, store: Store, *, emit: Emit | None = None) -> None:
        self.store = store
        self.emit = emit
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()

    def audit(
        self, action: str, service: str, payload: dict[str, Any], *, actor: str = ACTOR
    ) -> None:
        """Queue ``service.<something>`` for ``service:<name>``."""
        self._queue.put_nowait(
            _Item(audit=AuditDraft(actor, action, f"service:{service}", payload))
        )

    def event(
        self,
        service: str,
        severity: Severity,
        message: str,
        attributes: dict[str, Any],
        *,
        key: str,
    ) -> None:
        """Queue a ``health`` event about ``service`` (``source: supervisor``)."""
        event = Event(
            id=self.store.ids.new("evt"),
            time=self.store.clock.now(),
            source="supervisor",
            kind="health",
            service=service,
            severity=severity,
            message=message,
            attributes=attributes,
        )
        self._queue.put_nowait(_Item(event=event, event_key=f"supervisor:{key}"))

    def ticket(self, **fields: Any) -> None:
        """Queue a ticket (``Store.open_ticket`` keyword arguments)."""
        self._queue.put_nowait(_Item(ticket=fields))

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(done=done))
        await done

    async def run(self) -> None:
        """Write queued items until cancelled; what is queued at cancellation is still written."""
        try:
            while True:
                await self._write(await self._queue.get())
        finally:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item.event is None:  # the pipeline may be gone: only durable records
                    await asyncio.shield(self._write(item))

    async def _write(self, item: _Item) -> None:
        try:
            if item.audit is not None:
                await asyncio.to_thread(self.store.append_audit, [item.audit])
            if item.ticket is not None:
                await asyncio.to_thread(lambda: self.store.open_ticket(**item.ticket or {}))
            if item.event is not None and self.emit is not None:
                await self.emit(item.event, item.event_key)
        except Exception:  # a failed record must not stop supervision
            log.exception(
                f"supervisor could not record {item!r}",
                event_type="supervisor.record_failed",
            )
        finally:
            if item.done is not None and not item.done.done():
                item.done.set_result(None)
