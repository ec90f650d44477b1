"""Guards that read coordination state from rows: the emergency stop, episodes, silences,
inhibition, the open incident, repeat windows, the circuit breaker and throttles.

Each factory takes a :class:`GovernanceView` (the store implements it) and returns a plain
guard. They only read; what a decision changes (counts, throttle state, the circuit) travels
as :class:`~grace.governance.Effects` and is written by the decider in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from grace.durations import format_duration
from grace.governance._config import GovernanceConfig
from grace.governance._silences import Silence, diagnosis_labels, silencing
from grace.governance._throttle import ThrottleState, check_throttle, flush_throttle
from grace.governance._verdict import DecisionKind, Effects, Guard, GuardInput, Note, Verdict
from grace.runs import Run, RunStatus

if TYPE_CHECKING:
    from grace.store import GroupState

__all__ = (
    "GovernanceView",
    "circuit_breaker",
    "emergency_stop",
    "incident_key",
    "inhibition",
    "open_incident",
    "playbook_disabled",
    "repeat_window",
    "silenced",
    "stale_signal",
    "throttle",
)

_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}


class GovernanceView(Protocol):
    """The reads the guards need (:class:`grace.store.Store` provides them)."""

    def emergency_stop(self) -> dict[str, Any] | None: ...

    def disabled_playbook(self, name: str) -> dict[str, Any] | None: ...

    def episode_status(self, key: str) -> str | None: ...

    def silences(self, *, active_at: datetime | None = None) -> list[dict[str, Any]]: ...

    def firing_critical(self, service: str) -> list[Run]: ...

    def open_run_for(self, dedupe_key: str) -> str | None: ...

    def last_run_of(self, dedupe_key: str) -> Run | None: ...

    def count_attempts(self, dedupe_key: str, *, since: datetime) -> int: ...

    def group(self, key: str) -> GroupState | None: ...


def incident_key(inp: GuardInput) -> str:
    """The incident group: ``playbook:signature`` (the signature covers service and captures)."""
    return f"{inp.playbook.name}:{inp.signature}"


def _automatic(inp: GuardInput) -> bool:
    return inp.trigger == "event"


def _now(inp: GuardInput) -> datetime:
    if inp.now is None:  # pragma: no cover - the decider always sets it
        msg = "GuardInput.now is required by time-based guards"
        raise ValueError(msg)
    return inp.now


def _ago(now: datetime, then: datetime) -> str:
    return format_duration(max((now - then).total_seconds(), 0.0))


def emergency_stop(view: GovernanceView) -> Guard:
    """Nothing new starts while the emergency stop is in force (manual runs neither)."""

    def emergency_stop(inp: GuardInput) -> Verdict | None:
        stop = view.emergency_stop()
        if stop is None:
            return None
        return Verdict(
            DecisionKind.BLOCKED,
            f"emergency_stop: set by {stop.get('by', '?')} at {stop.get('at', '?')}: "
            f"{stop.get('reason', '')}",
            hint="lift it with 'grace resume' once it is safe",
        )

    return emergency_stop


def playbook_disabled(view: GovernanceView) -> Guard:
    """A playbook an operator turned off starts nothing (manual runs neither) until enabled."""

    def playbook_disabled(inp: GuardInput) -> Verdict | None:
        off = view.disabled_playbook(inp.playbook.name)
        if off is None:
            return None
        why = off.get("reason") or "no reason given"
        return Verdict(
            DecisionKind.BLOCKED,
            f"disabled: playbook {inp.playbook.name!r} was turned off by {off.get('by', '?')} "
            f"at {off.get('at', '?')}: {why}",
            hint=f"turn it on with 'grace playbooks enable {inp.playbook.name}'",
        )

    return playbook_disabled


def stale_signal(config: GovernanceConfig) -> Guard:
    """An event older than ``max_event_age`` is history, not an incident: it starts nothing."""

    def stale_signal(inp: GuardInput) -> Verdict | None:
        if not _automatic(inp) or inp.now is None or inp.flags.get("throttle_flush"):
            return None  # a once_after window's held event is judged when it was held
        age = (inp.now - inp.event.time).total_seconds()
        if age > config.max_event_age:
            return Verdict(
                DecisionKind.SUPPRESSED,
                f"stale: the event is {format_duration(age)} old "
                f"(max_event_age {format_duration(config.max_event_age)})",
                hint="raise governance.max_event_age if old signals must still act",
            )
        return None

    return stale_signal


def silenced(view: GovernanceView) -> Guard:
    """Operators' silences (Alertmanager's matchers) mute matching diagnoses for a time."""

    def silenced(inp: GuardInput) -> Verdict | None:
        if not _automatic(inp):
            return None
        now = _now(inp)
        active = [Silence.from_dict(s) for s in view.silences(active_at=now)]
        if not active:
            return None
        labels = diagnosis_labels(
            playbook=inp.playbook.name,
            service=inp.event.service,
            kind=inp.event.kind,
            severity=inp.event.severity,
            source=inp.event.source,
            signature=inp.signature,
            attributes=inp.event.attributes,
        )
        hit = silencing(active, labels, now)
        if hit is None:
            return None
        return Verdict(
            DecisionKind.SUPPRESSED,
            f"silenced by {hit.id} until {hit.ends_at.isoformat()} ({hit.author}: {hit.comment})",
            hint=f"end it with 'grace silence expire {hit.id}'",
            effects=Effects(group=True),
        )

    return silenced


def inhibition(view: GovernanceView, config: GovernanceConfig) -> Guard:
    """A firing critical diagnosis on a service inhibits lower-priority playbooks there."""

    def inhibition(inp: GuardInput) -> Verdict | None:
        if not (config.inhibit and _automatic(inp) and inp.event.service):
            return None
        mine = _PRIORITY_RANK.get(inp.playbook.spec.priority, 1)
        for run in view.firing_critical(inp.event.service):
            if run.playbook != inp.playbook.name and _PRIORITY_RANK.get(run.priority, 1) > mine:
                return Verdict(
                    DecisionKind.SUPPRESSED,
                    f"inhibited: run {run.id} of {run.playbook} (priority {run.priority}) "
                    f"handles a critical diagnosis on {inp.event.service}",
                    hint=f"wait for run {run.id} to end",
                    effects=Effects(group=True),
                )
        return None

    return inhibition


def open_incident(view: GovernanceView) -> Guard:
    """One open run per incident: a repeat is counted on the run already handling it."""

    def open_incident(inp: GuardInput) -> Verdict | None:
        if not _automatic(inp):
            return None
        run_id = view.open_run_for(incident_key(inp))
        if run_id is None:
            return None
        return Verdict(
            DecisionKind.SUPPRESSED,
            f"run {run_id} is already open for this incident",
            hint=f"see it with 'grace runs show {run_id}'",
            effects=Effects(count_on=run_id, group=True),
        )

    return open_incident


def repeat_window(view: GovernanceView, config: GovernanceConfig) -> Guard:
    """Dedupe window and cooldown after a run; no new approval request soon after a refusal."""

    def repeat_window(inp: GuardInput) -> Verdict | None:
        if not _automatic(inp):
            return None
        last = view.last_run_of(incident_key(inp))
        if last is None:
            return None
        now = _now(inp)
        ended = last.finished_at or last.created_at
        counted = Effects(count_on=last.id, group=True)
        if last.status in (RunStatus.REJECTED, RunStatus.EXPIRED):
            if now - ended < timedelta(seconds=config.approval_repeat_window):
                return Verdict(
                    DecisionKind.SUPPRESSED,
                    f"the request for this incident (run {last.id}) was {last.status.value} "
                    f"{_ago(now, ended)} ago; no new request within "
                    f"{format_duration(config.approval_repeat_window)}",
                    effects=counted,
                )
            return None
        if now - last.created_at < timedelta(seconds=config.dedupe_window):
            return Verdict(
                DecisionKind.SUPPRESSED,
                f"repeat within the dedupe window ({format_duration(config.dedupe_window)}) "
                f"of run {last.id}",
                effects=counted,
            )
        if last.finished_at is not None and now - last.finished_at < timedelta(
            seconds=config.cooldown
        ):
            return Verdict(
                DecisionKind.SUPPRESSED,
                f"cooldown: run {last.id} ended {_ago(now, last.finished_at)} ago "
                f"(cooldown {format_duration(config.cooldown)})",
                effects=counted,
            )
        return None

    return repeat_window


def circuit_breaker(view: GovernanceView, config: GovernanceConfig) -> Guard:
    """Bounded retries across runs: too many attempts in a window open the circuit."""

    def circuit_breaker(inp: GuardInput) -> Verdict | Note | None:
        if not _automatic(inp):
            return None
        now = _now(inp)
        key = incident_key(inp)
        group = view.group(key)
        until = group.circuit_open_until if group else None
        if until is not None and until > now:
            ticket = group.circuit_ticket_id if group else None
            return Verdict(
                DecisionKind.SUPPRESSED,
                f"circuit open until {until.isoformat()} (ticket {ticket})",
                hint=f"close it with 'grace circuit reset {key}' once the cause is fixed",
                effects=Effects(group=True),
            )
        since = now - timedelta(seconds=config.attempts_window)
        reset = group.attempts_since if group else None
        if reset is not None and reset > since:
            since = reset  # an operator reset the circuit: earlier attempts no longer count
        attempts = view.count_attempts(key, since=since)
        window = format_duration(config.attempts_window)
        if attempts >= config.max_attempts:
            return Verdict(
                DecisionKind.ESCALATED,
                f"{attempts} attempts in {window} (max_attempts {config.max_attempts}): "
                "the circuit opens, a ticket is filed and humans are notified",
                hint=f"fix the cause, then 'grace circuit reset {key}'",
                effects=Effects(group=True, escalate=True),
            )
        return Note(f"{attempts} of {config.max_attempts} attempts used in {window}")

    return circuit_breaker


def throttle(view: GovernanceView) -> Guard:
    """The playbook's own EDA-style throttle (``once_within``, ``once_after``, accumulate)."""

    def throttle(inp: GuardInput) -> Verdict | Note | None:
        spec = inp.playbook.spec.throttle
        if spec is None or not _automatic(inp):
            return None
        now = _now(inp)
        group = view.group(incident_key(inp))
        raw = group.throttle if group else None
        state = ThrottleState.from_dict(raw) if raw else ThrottleState()
        if inp.flags.get("throttle_flush"):
            # The sweeper saw the window end; re-check on the row just read (fires once).
            flushed = flush_throttle(spec, state, now)
            if flushed.fire:
                return Note(
                    flushed.reason, Effects(throttle=flushed.state.to_dict(), held_event={})
                )
            return Verdict(DecisionKind.SUPPRESSED, flushed.reason)
        result = check_throttle(spec, state, now)
        if result.fire:
            return Note(result.reason, Effects(throttle=result.state.to_dict(), held_event={}))
        held = None
        if spec.once_after is not None:
            held = (group.held_event if group else None) or inp.event.to_dict()
        return Verdict(
            DecisionKind.SUPPRESSED,
            result.reason,
            effects=Effects(group=True, throttle=result.state.to_dict(), held_event=held),
        )

    return throttle
