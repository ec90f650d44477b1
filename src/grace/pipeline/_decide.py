"""Match → govern → record: turn one event into decisions and (maybe) runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grace.audit import AuditDraft
from grace.errors import DuplicateIncident
from grace.events import Event
from grace.governance import Decision, DecisionKind, Governor, GuardInput
from grace.matching import Match, Matcher
from grace.playbooks import Playbook
from grace.runs import Run, RunStatus
from grace.store import Store
from grace.types import Clock, IdFactory

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
        if store is None and not dry_run:
            msg = "a Decider that records decisions needs a store"
            raise ValueError(msg)

    def decide(self, event: Event) -> list[Outcome]:
        """Every playbook this event matches, each with the governor's decision."""
        outcomes: list[Outcome] = []
        library = self.playbooks()
        for match in self.matcher().match_playbooks(event):
            playbook = library.get(match.playbook)
            if playbook is None:  # reloaded away between match and decision
                continue
            inp = GuardInput(
                event=event,
                playbook=playbook,
                captures=match.captures,
                signature=match.signature,
                mode=self.mode(),
                flags={"in_change_freeze": False, "dry_run": self.dry_run},
                config=self.config,
            )
            decision = self.governor.decide(inp)
            outcomes.append(self._record(event, match, playbook, decision))
        return outcomes

    def _record(
        self, event: Event, match: Match, playbook: Playbook, decision: Decision
    ) -> Outcome:
        store = self.store
        if self.dry_run or store is None:
            return Outcome(decision, match)
        run_id: str | None = None
        if decision.kind in (DecisionKind.QUEUED, DecisionKind.PROPOSED):
            status = (
                RunStatus.QUEUED if decision.kind is DecisionKind.QUEUED else RunStatus.PROPOSED
            )
            run = Run(
                id=self.ids.new("run"),
                playbook=playbook.name,
                playbook_version=playbook.version,
                status=status,
                created_at=self.clock.now(),
                trigger="event",
                event=event.to_dict(),
                captures=dict(match.captures),
                service=event.service,
                requested_by="engine",
                dedupe_key=f"{playbook.name}:{match.signature}",
            )
            try:
                # The decision's audit entry commits with the run it created: one transaction.
                draft = _decision_draft(event, match, playbook, decision, run.id)
                store.create_run(run, actor="engine", reason=decision.reason, also=[draft])
                return Outcome(decision, match, run.id)
            except DuplicateIncident as exc:
                decision = Decision(
                    DecisionKind.SUPPRESSED,
                    f"run {exc.run_id} is already open for this incident",
                    "open_incident",
                    decision.playbook,
                    decision.signature,
                    (*decision.trace, ("open_incident", f"suppressed: run {exc.run_id} open")),
                )
        store.append_audit([_decision_draft(event, match, playbook, decision, run_id)])
        return Outcome(decision, match, run_id)


def _decision_draft(
    event: Event, match: Match, playbook: Playbook, decision: Decision, run_id: str | None
) -> AuditDraft:
    return AuditDraft(
        "engine",
        f"decision.{decision.kind.value}",
        run_id or playbook.name,
        {
            "playbook": playbook.name,
            "event_id": event.id,
            "signature": match.signature,
            "reason": decision.reason,
            "guard": decision.guard,
            "run_id": run_id,
            "captures": dict(match.captures),
        },
    )
