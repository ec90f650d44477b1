"""Match → govern → record: turn one event into decisions and (maybe) runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from grace.audit import AuditDraft
from grace.config import Settings
from grace.errors import DuplicateIncident
from grace.events import Event
from grace.governance import (
    Decision,
    DecisionKind,
    Effects,
    GovernanceConfig,
    Governor,
    GuardInput,
)
from grace.logs import get_logger
from grace.matching import Match, Matcher
from grace.playbooks import Playbook
from grace.runs import Run, RunStatus
from grace.store import Store, Suppression
from grace.types import Clock, IdFactory

log = get_logger("governor")

Notifier = Callable[[dict[str, Any]], None]
"""Sends an escalation to humans (a webhook); the decider always logs it too."""

__all__ = ("Decider", "Outcome")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One decision and the run it created, if any."""

    decision: Decision
    match: Match
    run_id: str | None = None


class Decider:
    """Pure matching plus governed, recorded decisions. Call :meth:`decide` from a worker thread."""

    def __init__(
        self,
        *,
        store: Store | None,
        governor: Governor,
        playbooks: Callable[[], Mapping[str, Playbook]],
        matcher: Callable[[], Matcher],
        mode: Callable[[], str],
        clock: Clock,
        ids: IdFactory,
        config: Mapping[str, Any],
        dry_run: bool = False,
        governance: GovernanceConfig | None = None,
        flags: Callable[[datetime], Mapping[str, Any]] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.governor = governor
        self.playbooks = playbooks
        self.matcher = matcher
        self.mode = mode
        self.clock = clock
        self.ids = ids
        self.config = config
        self.dry_run = dry_run
        """True for ``grace replay``/``explain``: decide, but record nothing."""
        self.governance = governance or GovernanceConfig()
        self.flags = flags
        self.notifier = notifier
        if store is None and not dry_run:
            msg = "a Decider that records decisions needs a store"
            raise ValueError(msg)

    @classmethod
    def dry(
        cls,
        *,
        governor: Governor,
        playbooks: Mapping[str, Playbook],
        matcher: Matcher,
        settings: Settings,
        flags: Callable[[datetime], Mapping[str, Any]] | None = None,
    ) -> Decider:
        """A decider that records nothing (``grace explain``, ``grace replay``)."""
        from grace.types import RandomIds, SystemClock

        return cls(
            store=None,
            governor=governor,
            playbooks=lambda: playbooks,
            matcher=lambda: matcher,
            mode=lambda: settings.mode,
            clock=SystemClock(),
            ids=RandomIds(),
            config=settings.config,
            dry_run=True,
            governance=settings.governance,
            flags=flags,
        )

    def decide(self, event: Event, *, now: datetime | None = None) -> list[Outcome]:
        """Every playbook this event matches, each with the governor's decision.

        ``now`` is the decision's time (default the clock; a replay passes the event's time).
        Playbooks are decided independently: one playbook's throttle, silence or circuit never
        changes whether another playbook matches the same event.
        """
        if self.store is None:
            return self._decide(event, now=now, buffer=None)
        with self.store.reading():  # the guards' reads share one connection and snapshot
            return self._decide(event, now=now, buffer=None)

    def decide_many(self, events: Sequence[Event]) -> list[list[Outcome]]:
        """:meth:`decide` for a batch; plain suppressions are recorded in one transaction.

        A storm of repeats then costs one commit per batch instead of one per event. Anything
        else (a run, an escalation, a throttle change) is recorded at once, in order.
        """
        buffer: list[Suppression] = []
        if self.store is None:
            return [self._decide(event, now=None, buffer=None) for event in events]
        # The guards' reads share one connection for the batch (fewer round trips).
        with self.store.reading():
            try:
                return [self._decide(event, now=None, buffer=buffer) for event in events]
            finally:
                self._flush(buffer)

    def _decide(
        self, event: Event, *, now: datetime | None, buffer: list[Suppression] | None
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        library = self.playbooks()
        for match in self.matcher().match_playbooks(event):
            playbook = library.get(match.playbook)
            if playbook is None:  # reloaded away between match and decision
                continue
            outcomes.append(self.decide_one(event, match, playbook, now=now, buffer=buffer))
        return outcomes

    def _flush(self, buffer: list[Suppression]) -> None:
        if buffer and self.store is not None:
            self.store.record_suppressed_many(buffer)
        buffer.clear()

    def decide_one(
        self,
        event: Event,
        match: Match,
        playbook: Playbook,
        *,
        now: datetime | None = None,
        extra_flags: Mapping[str, Any] | None = None,
        buffer: list[Suppression] | None = None,
    ) -> Outcome:
        """Govern and record one diagnosis (plain suppressions go to ``buffer`` when given)."""
        at = now or self.clock.now()
        flags: dict[str, Any] = {"in_change_freeze": False, "dry_run": self.dry_run}
        if self.flags is not None:
            flags.update(self.flags(at))
        flags.update(extra_flags or {})
        inp = GuardInput(
            event=event,
            playbook=playbook,
            captures=match.captures,
            signature=match.signature,
            mode=self.mode(),
            flags=flags,
            config=self.config,
            now=at,
        )
        decision = self.governor.decide(inp)
        return self._record(event, match, playbook, decision, at, buffer)

    def _record(
        self,
        event: Event,
        match: Match,
        playbook: Playbook,
        decision: Decision,
        now: datetime,
        buffer: list[Suppression] | None,
    ) -> Outcome:
        store = self.store
        if self.dry_run or store is None:
            return Outcome(decision, match)
        # The guards have read what they need: what follows (and the next diagnosis, even of
        # the same event) must see everything committed since, not the guards' snapshot.
        store.fresh_reads()
        effects = decision.effects
        plain = (
            (effects.group or effects.count_on is not None)
            and effects.throttle is None
            and not effects.escalate
            and decision.run_status is None
        )
        if buffer is not None:
            if plain:
                draft = _decision_draft(event, match, playbook, decision, None)
                buffer.append(
                    Suppression(
                        f"{playbook.name}:{match.signature}",
                        playbook.name,
                        event.service,
                        effects.count_on,
                        draft,
                    )
                )
                return Outcome(decision, match, None)
            self._flush(buffer)  # keep the audit log in decision order
        key = f"{playbook.name}:{match.signature}"
        if decision.run_status is not None:
            run = self._new_run(event, match, playbook, decision, now)
            try:
                # The decision's audit entry commits with the run it created: one transaction.
                draft = _decision_draft(event, match, playbook, decision, run.id)
                store.create_run(run, actor="engine", reason=decision.reason, also=[draft])
            except DuplicateIncident as exc:
                decision = replace(
                    decision,
                    kind=DecisionKind.SUPPRESSED,
                    reason=f"run {exc.run_id} is already open for this incident",
                    guard="open_incident",
                    trace=(*decision.trace, ("open_incident", f"suppressed: run {exc.run_id}")),
                    run_status=None,
                    effects=Effects(count_on=exc.run_id, group=True),
                )
                effects = decision.effects
            else:
                if effects.throttle is not None:
                    store.save_throttle(
                        key,
                        playbook=playbook.name,
                        service=event.service,
                        throttle=effects.throttle,
                        held_event=effects.held_event or None,
                    )
                return Outcome(decision, match, run.id)
        draft = _decision_draft(event, match, playbook, decision, None)
        if effects.escalate:
            self._escalate(event, playbook, decision, key, now, draft)
        elif effects.group or effects.count_on is not None or effects.throttle is not None:
            store.record_suppressed(
                key,
                playbook=playbook.name,
                service=event.service,
                run_id=effects.count_on,
                drafts=[draft],
                throttle=effects.throttle,
                held_event=effects.held_event or None,
            )
        else:
            store.append_audit([draft])
        return Outcome(decision, match, None)

    def _new_run(
        self, event: Event, match: Match, playbook: Playbook, decision: Decision, now: datetime
    ) -> Run:
        status = decision.run_status or RunStatus.QUEUED
        return Run(
            id=self.ids.new("run"),
            playbook=playbook.name,
            playbook_version=playbook.version,
            status=status,
            created_at=now,
            trigger="event",
            event=event.to_dict(),
            captures=dict(match.captures),
            service=event.service,
            requested_by="engine",
            dedupe_key=f"{playbook.name}:{match.signature}",
            severity=event.severity,
            priority=playbook.spec.priority,
            risk_level=playbook.spec.metadata.risk_level,
            expires_at=self.governance.expires_at(status, now),
            approvals_needed=decision.approvals_needed,
        )

    def _escalate(
        self,
        event: Event,
        playbook: Playbook,
        decision: Decision,
        key: str,
        now: datetime,
        draft: AuditDraft,
    ) -> None:
        assert self.store is not None
        title = f"{playbook.name} keeps failing on {event.service or 'its target'}"
        body = (
            f"{decision.reason}.\n\nIncident {key}. Last event: {event.message[:500]}\n"
            f"Grace will not try again until the circuit closes "
            f"(governance.circuit_open_for) or someone runs 'grace circuit reset {key}'."
        )
        ticket_id = self.store.open_circuit(
            key,
            playbook=playbook.name,
            service=event.service,
            until=now + timedelta(seconds=self.governance.circuit_open_for),
            title=title,
            body=body,
            context={"incident": key, "event": event.to_dict(), "reason": decision.reason},
            drafts=[draft],
        )
        if ticket_id is None:  # another worker escalated first: count this one as a repeat
            self.store.record_suppressed(
                key, playbook=playbook.name, service=event.service, run_id=None, drafts=[draft]
            )
            return
        notice = {
            "title": title,
            "message": decision.reason,
            "level": "critical",
            "service": event.service,
            "playbook": playbook.name,
            "incident": key,
            "ticket": ticket_id,
        }
        log.warning(
            f"escalated: {title} (ticket {ticket_id})", event_type="governance.escalated", **notice
        )
        if self.notifier is not None:
            try:
                self.notifier(notice)
            except Exception as exc:  # noqa: BLE001 - the ticket is filed; a dead webhook is logged
                log.warning(f"escalation notification failed: {exc}", event_type="notify.failed")


def _decision_draft(
    event: Event, match: Match, playbook: Playbook, decision: Decision, run_id: str | None
) -> AuditDraft:
    return decision.audit_draft(
        "engine",
        run_id or playbook.name,
        event_id=event.id,
        run_id=run_id,
        captures=dict(match.captures),
        service=event.service,
    )
