"""The port registry: which service owns which port (docs/ports.md).

Claiming, releasing and pruning a port are audited (``port.claimed`` / ``port.released`` /
``port.pruned``) in the same transaction. A scan's sighting only moves ``last_seen_at`` (not
audited: it is a heartbeat, not a change of owner), except when it names the owner of a row
that had none, which is a ``port.claimed`` entry. Every write bumps the row's ``revision``;
prune deletes a row only at the revision it judged, so a claim or a sighting that lands in
between is never lost.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from grace.audit._chain import AuditDraft
from grace.errors import ConfigError
from grace.ports._model import Listener, PortRecord, Verdict
from grace.ports._rules import ProcessLookup, by_port, judge
from grace.store._convert import aware
from grace.store._reads import Reads
from grace.store._tables import ports as _ports

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from grace.ports._model import Source
    from grace.types import Clock

__all__ = ("PortRecords",)


def _record(row: Any) -> PortRecord:
    claimed_at = aware(row.claimed_at)
    assert claimed_at is not None
    return PortRecord(
        port=int(row.port),
        protocol=str(row.protocol),
        service=str(row.service),
        source=row.source,
        pid=row.pid,
        create_time=row.create_time,
        claimed_at=claimed_at,
        claimed_by=str(row.claimed_by),
        last_seen_at=aware(row.last_seen_at),
        revision=int(row.revision),
    )


def _subject(port: int, protocol: str) -> str:
    return f"port:{port}/{protocol}"


class PortRecords(Reads):
    """The store's port registry (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

    def claim_port(
        self,
        port: int,
        *,
        service: str,
        by: str,
        source: Source = "claimed",
        pid: int | None = None,
        create_time: float | None = None,
        protocol: str = "tcp",
    ) -> PortRecord:
        """Register ``service`` as the owner of ``port`` (idempotent for the same service).

        A row a scan merely ``observed`` is taken over; a row another service declared or
        claimed is not.

        Raises:
            ConfigError: another service owns the port.
        """
        if not 1 <= port <= 65535:
            msg = f"port {port} is not in 1-65535"
            raise ConfigError(msg)
        try:
            return self._claim(port, service, by, source, pid, create_time, protocol)
        except IntegrityError:  # another process inserted it meanwhile: judge its row instead
            return self._claim(port, service, by, source, pid, create_time, protocol)

    def _claim(
        self,
        port: int,
        service: str,
        by: str,
        source: Source,
        pid: int | None,
        create_time: float | None,
        protocol: str,
    ) -> PortRecord:
        with self.transaction() as tx:
            row = self._locked(tx.conn, port, protocol)
            payload: dict[str, Any] = {
                "service": service,
                "source": source,
                "pid": pid,
                "create_time": create_time,
            }
            if row is None:
                tx.conn.execute(
                    insert(_ports).values(
                        port=port,
                        protocol=protocol,
                        service=service,
                        source=source,
                        pid=pid,
                        create_time=create_time,
                        claimed_at=tx.now,
                        claimed_by=by,
                        last_seen_at=None,
                        revision=0,
                    )
                )
            elif row.service != service and row.source != "observed":
                msg = f"port {port}/{protocol} is owned by {row.service!r} ({row.source} by {row.claimed_by})"
                raise ConfigError(msg, hint=f"release it first: grace ports release {port}")
            else:
                values: dict[str, Any] = {}
                if row.service != service or row.source != source:
                    values.update(service=service, source=source, claimed_at=tx.now, claimed_by=by)
                    payload["replaces"] = {"service": row.service, "source": row.source}
                if pid is not None and (pid, create_time) != (row.pid, row.create_time):
                    values.update(pid=pid, create_time=create_time)
                if not values:
                    return _record(row)  # nothing changes: no audit entry
                values["revision"] = row.revision + 1
                tx.conn.execute(
                    update(_ports)
                    .where(_ports.c.port == port, _ports.c.protocol == protocol)
                    .values(**values)
                )
            tx.audit(AuditDraft(by, "port.claimed", _subject(port, protocol), payload))
            fresh = self._locked(tx.conn, port, protocol)
        return _record(fresh)

    def release_port(
        self, port: int, *, by: str, reason: str = "", protocol: str = "tcp"
    ) -> PortRecord | None:
        """Forget ``port``'s owner; the released row, or None when it was not registered."""
        with self.transaction() as tx:
            row = self._locked(tx.conn, port, protocol)
            if row is None:
                return None
            tx.conn.execute(
                delete(_ports).where(_ports.c.port == port, _ports.c.protocol == protocol)
            )
            payload = {
                "service": row.service,
                "source": row.source,
                "pid": row.pid,
                "reason": reason,
            }
            tx.audit(AuditDraft(by, "port.released", _subject(port, protocol), payload))
        return _record(row)

    def list_ports(self, *, protocol: str | None = "tcp") -> list[PortRecord]:
        """Registered ports, in port order."""
        query = select(_ports).order_by(_ports.c.port, _ports.c.protocol)
        if protocol is not None:
            query = query.where(_ports.c.protocol == protocol)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def get_port(self, port: int, *, protocol: str = "tcp") -> PortRecord | None:
        """The row of ``port``, or None."""
        with self._read() as conn:
            row = conn.execute(
                select(_ports).where(_ports.c.port == port, _ports.c.protocol == protocol)
            ).first()
        return None if row is None else _record(row)

    def mark_ports_seen(
        self,
        ports: Iterable[int],
        *,
        adopt: Mapping[int, Listener] | None = None,
        by: str = "scan",
        protocol: str = "tcp",
    ) -> list[PortRecord]:
        """A scan found listeners on ``ports``: stamp ``last_seen_at``.

        ``adopt`` names the listening process of rows that had no owner pid; it becomes their
        owner (audited ``port.claimed``). Returns the adopted rows.
        """
        adopt = adopt or {}
        adopted: list[PortRecord] = []
        wanted = sorted(set(ports))
        if not wanted:
            return adopted
        with self.transaction() as tx:
            rows = tx.conn.execute(
                select(_ports).where(_ports.c.port.in_(wanted), _ports.c.protocol == protocol)
            ).all()
            for row in rows:
                values: dict[str, Any] = {"last_seen_at": tx.now, "revision": row.revision + 1}
                listener = adopt.get(row.port)
                if row.pid is None and listener is not None and listener.owner_known:
                    values.update(pid=listener.pid, create_time=listener.create_time)
                    payload = {
                        "service": row.service,
                        "source": row.source,
                        "pid": listener.pid,
                        "create_time": listener.create_time,
                        "process": listener.name,
                        "adopted": True,
                    }
                    tx.audit(AuditDraft(by, "port.claimed", _subject(row.port, protocol), payload))
                tx.conn.execute(
                    update(_ports)
                    .where(_ports.c.port == row.port, _ports.c.protocol == protocol)
                    .values(**values)
                )
                if "pid" in values:
                    adopted.append(_record(SimpleNamespace(**{**row._asdict(), **values})))
        return adopted

    def port_verdicts(
        self,
        listeners: Sequence[Listener],
        *,
        processes: ProcessLookup,
        grace_s: float,
        service_pids: Mapping[str, int] | None = None,
        now: datetime | None = None,
    ) -> list[Verdict]:
        """Every registered port judged by :func:`grace.ports.judge` against a scan."""
        grouped = by_port(listeners)
        at = now or self.clock.now()
        pids = service_pids or {}
        return [
            judge(
                record,
                listeners=grouped.get(record.port, []),
                processes=processes,
                now=at,
                grace_s=grace_s,
                service_pid=pids.get(record.service),
            )
            for record in self.list_ports()
        ]

    def stale_ports(
        self,
        listeners: Sequence[Listener],
        *,
        processes: ProcessLookup,
        grace_s: float,
        service_pids: Mapping[str, int] | None = None,
    ) -> list[Verdict]:
        """The registered ports the staleness rules call stale (dead pid, reused pid, unanswered)."""
        verdicts = self.port_verdicts(
            listeners, processes=processes, grace_s=grace_s, service_pids=service_pids
        )
        return [v for v in verdicts if v.stale]

    def prune_ports(
        self, verdicts: Sequence[Verdict], *, by: str, keep: Collection[int] = ()
    ) -> list[Verdict]:
        """Remove the stale ``verdicts``' registrations (each audited ``port.pruned``).

        Rows on ``keep`` ports (still declared in config) stay: only their owner is cleared
        (pid, create time), so the next process to listen is adopted; a kept row with no owner
        is left alone. A row that changed since it was judged (claimed again, seen again) is
        never touched. Returns the verdicts acted on.
        """
        pruned: list[Verdict] = []
        stale = [v for v in verdicts if v.stale]
        if not stale:
            return pruned
        with self.transaction() as tx:
            for verdict in stale:
                record = verdict.record
                same = (
                    _ports.c.port == record.port,
                    _ports.c.protocol == record.protocol,
                    _ports.c.revision == record.revision,
                )
                kept = record.port in keep
                if kept and record.pid is None:
                    continue  # nothing to clear: the declaration itself stays
                if kept:
                    statement: Any = (
                        update(_ports)
                        .where(*same)
                        .values(pid=None, create_time=None, revision=record.revision + 1)
                    )
                else:
                    statement = delete(_ports).where(*same)
                if not tx.conn.execute(statement.returning(_ports.c.port)).all():
                    continue
                payload = {
                    "service": record.service,
                    "source": record.source,
                    "pid": record.pid,
                    "verdict": verdict.kind,
                    "reason": verdict.reason,
                    "kept_declared": kept,
                }
                tx.audit(
                    AuditDraft(by, "port.pruned", _subject(record.port, record.protocol), payload)
                )
                pruned.append(verdict)
        return pruned

    def _locked(self, conn: Connection, port: int, protocol: str) -> Any:
        return conn.execute(
            select(_ports)
            .where(_ports.c.port == port, _ports.c.protocol == protocol)
            .with_for_update()
        ).first()
