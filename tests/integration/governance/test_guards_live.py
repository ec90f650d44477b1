"""The guard chain against a real store (SQLite and PostgreSQL), time travelling on a fake clock.

Each test builds the decider the way ``grace serve`` does (``Daemon.create``), over an engine
whose clock only moves when told to: throttles, repeat windows, the circuit breaker, silences,
inhibition, staleness, the emergency stop and idempotent manual runs.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.config import Settings
from grace.daemon import _webhook_notifier
from grace.engine import Engine, RunRefused
from grace.errors import RunError
from grace.events import Event
from grace.governance import DecisionKind, new_silence
from grace.pipeline import Decider, Pipeline
from grace.pipeline._decide import Notifier, Outcome
from grace.runs import Run, RunStatus
from grace.testing import FakeClock, SequentialIds, decider_for, make_event

T0 = datetime.fromisoformat("2026-01-01T12:00:00+00:00")

NO_WINDOWS: dict[str, Any] = {"change_windows": {"enabled": False}}

LOG_STEP = """
steps:
  - name: say
    action: log
    with: {message: "repairing"}
"""


def playbook(name: str, pattern: str, *, extra: str = "", steps: str = LOG_STEP) -> str:
    """A low-risk, tier-1 playbook text triggered by ``pattern`` in a log line."""
    head = textwrap.dedent(
        f"""
        name: {name}
        triggers:
          - type: log_message
            pattern: '{pattern}'
        """
    )
    return head + textwrap.dedent(extra) + textwrap.dedent(steps)


@dataclass
class World:
    """An engine on the test's database, its fake clock and a decider built like the daemon's."""

    engine: Engine
    clock: FakeClock
    decider: Decider
    events: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    @property
    def store(self) -> Any:
        return self.engine.store

    def event(
        self, message: str, *, service: str = "api", age_s: float = 0.0, **fields: Any
    ) -> Event:
        """A log event happening ``age_s`` seconds before the clock's now."""
        return make_event(
            message,
            id=f"evt_{next(self.events)}",
            time=self.clock.now() - timedelta(seconds=age_s),
            service=service,
            **fields,
        )

    def decide(self, event: Event) -> dict[str, Outcome]:
        """Every playbook's outcome for ``event``, by playbook name."""
        outcomes = self.decider.decide(event)
        by_name = {o.decision.playbook: o for o in outcomes}
        assert len(by_name) == len(outcomes)
        return by_name

    def one(self, event: Event) -> Outcome:
        """The outcome of an event only one playbook matches."""
        outcomes = self.decider.decide(event)
        assert len(outcomes) == 1, [o.decision for o in outcomes]
        return outcomes[0]

    def execute(self, run_id: str) -> Run:
        """Drive a queued run to its end with the real runner."""
        return anyio.run(partial(self.engine.runner.execute, run_id))

    def runs(self, playbook: str | None = None) -> list[Run]:
        return list(reversed(self.store.list_runs(playbook=playbook, limit=1000)))

    def key(self, outcome: Outcome) -> str:
        return f"{outcome.decision.playbook}:{outcome.decision.signature}"


@pytest.fixture
def make_world(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> Iterator[Callable[..., World]]:
    """``make_world(playbooks={name: text}, mode=…, governance={…}, notifier=…)``."""
    engines: list[Engine] = []

    def make(
        *,
        playbooks: dict[str, str],
        mode: str = "execute",
        governance: dict[str, Any] | None = None,
        notifier: Notifier | str | None = None,
    ) -> World:
        """``notifier="webhook"``: the daemon's own notifier for ``governance.escalation_webhook``."""
        for name, text in playbooks.items():
            write_playbook(name, text)
        settings = Settings(
            data_dir=tmp_path / ".grace",
            database_url=database_url,
            playbook_dirs=[playbook_dir],
            log_dir=tmp_path / "logs",
            bundled_playbooks=False,
            mode=mode,
            governance={**NO_WINDOWS, **(governance or {})},
        )
        clock = FakeClock(T0)
        engine = Engine(settings, clock=clock, ids=SequentialIds())
        engines.append(engine)
        assert sorted(engine.playbooks) == sorted(playbooks), engine.playbook_errors
        decider = decider_for(
            engine,
            mode=settings.mode,
            notifier=_webhook_notifier(settings) if isinstance(notifier, str) else notifier,
        )
        return World(engine, clock, decider)

    yield make
    for engine in engines:
        engine.close()


# -- 1. one playbook's throttle never changes another's match ----------------------------------


def test_one_playbooks_throttle_never_changes_another_playbooks_match(
    make_world: Callable[..., World],
) -> None:
    """A (once_within 1h) and B (no throttle) match the same line: the repeat is throttled for A only.

    ansible-rulebook 1.3.2 let a throttled rule swallow the event for every rule; here B still
    gets its second run.
    """
    world = make_world(
        playbooks={
            "alpha": playbook(
                "alpha", "disk full on (?P<mount>/\\S+)", extra="throttle: {once_within: 1h}\n"
            ),
            "beta": playbook("beta", "disk full"),
        },
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    first = world.decide(world.event("disk full on /var"))
    assert sorted(first) == ["alpha", "beta"]
    assert first["alpha"].decision.kind is DecisionKind.QUEUED
    assert first["beta"].decision.kind is DecisionKind.QUEUED
    for outcome in first.values():
        assert outcome.run_id is not None
        assert world.execute(outcome.run_id).status is RunStatus.SUCCEEDED

    world.clock.advance(60)
    second = world.decide(world.event("disk full on /var"))
    assert sorted(second) == ["alpha", "beta"]
    alpha = second["alpha"]
    assert alpha.decision.kind is DecisionKind.SUPPRESSED
    assert alpha.decision.guard == "throttle"
    assert alpha.decision.reason == (
        "throttled: once_within 1h, fired at 12:00:00Z, 1 suppressed since; "
        "may fire again from 13:00:00Z"
    )
    assert alpha.run_id is None
    beta = second["beta"]
    assert beta.decision.kind is DecisionKind.QUEUED, beta.decision.reason
    assert beta.run_id is not None
    assert beta.run_id != first["beta"].run_id
    assert len(world.runs("alpha")) == 1
    assert [r.id for r in world.runs("beta")] == [first["beta"].run_id, beta.run_id]
    group = world.store.group(world.key(alpha))
    assert group.suppressed == 1
    assert group.throttle["count"] == 1

    # After the hour, alpha fires again.
    assert world.execute(beta.run_id).status is RunStatus.SUCCEEDED
    world.clock.advance(3600)
    third = world.decide(world.event("disk full on /var"))
    assert third["alpha"].decision.kind is DecisionKind.QUEUED
    assert third["beta"].decision.kind is DecisionKind.QUEUED
    assert len(world.runs("alpha")) == 2


# -- 2. once_after: held, counted, fired once by the sweeper -----------------------------------


def test_once_after_holds_the_first_event_and_fires_once_after_the_window(
    make_world: Callable[..., World],
) -> None:
    """once_after 5m: events held and counted; the sweeper fires exactly one run, with the first event."""
    world = make_world(
        playbooks={"gc": playbook("gc", "gc pause", extra="throttle: {once_after: 5m}\n")},
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    first = world.event("gc pause 812ms")
    outcome = world.one(first)
    assert outcome.decision.kind is DecisionKind.SUPPRESSED
    assert outcome.decision.guard == "throttle"
    assert outcome.decision.reason == (
        "throttled: once_after 5m, window opened at 12:00:00Z, fires at 12:05:00Z"
    )
    key = world.key(outcome)
    held = world.store.group(key)
    assert held.held_event == first.to_dict()
    assert held.throttle["count"] == 1

    for _ in range(2):
        world.clock.advance(60)
        repeat = world.one(world.event("gc pause 907ms"))
        assert repeat.decision.kind is DecisionKind.SUPPRESSED
        assert repeat.run_id is None
    assert repeat.decision.reason == (
        "throttled: once_after 5m, 3 events held since 12:00:00Z, fires at 12:05:00Z"
    )
    group = world.store.group(key)
    assert group.suppressed == 3
    assert group.throttle["count"] == 3
    assert group.held_event == first.to_dict()  # the first event stays the one held
    assert world.runs() == []

    pipeline = Pipeline(
        store=world.store, decider=world.decider, runner=world.engine.runner, queue_size=10
    )
    world.clock.advance(60)  # 12:03: the window is still open, the sweeper does nothing
    anyio.run(pipeline._flush_held)
    assert world.runs() == []

    world.clock.advance(121)  # 12:05:01
    anyio.run(pipeline._flush_held)
    runs = world.runs()
    assert len(runs) == 1
    assert runs[0].status is RunStatus.QUEUED
    assert runs[0].event["id"] == first.id
    assert runs[0].created_at == T0 + timedelta(seconds=301)
    after = world.store.group(key)
    assert after.held_event is None
    assert after.throttle["count"] == 0
    assert world.store.held_groups() == []

    # A second sweep, or a flush decided by hand, never fires twice.
    anyio.run(pipeline._flush_held)
    again = world.decider.decide_one(
        first,
        world.decider.matcher().match_playbooks(first)[0],
        world.engine.playbooks["gc"],
        extra_flags={"throttle_flush": True},
    )
    assert again.decision.kind is DecisionKind.SUPPRESSED
    assert again.run_id is None
    assert len(world.runs()) == 1


def test_once_after_flush_by_hand_fires_once(make_world: Callable[..., World]) -> None:
    """decide_one(..., throttle_flush) before the window ends holds; after it, fires exactly once."""
    world = make_world(
        playbooks={"gc": playbook("gc", "gc pause", extra="throttle: {once_after: 5m}\n")},
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    first = world.event("gc pause 812ms")
    world.one(first)
    match = world.decider.matcher().match_playbooks(first)[0]
    pb = world.engine.playbooks["gc"]
    world.clock.advance(299)
    early = world.decider.decide_one(first, match, pb, extra_flags={"throttle_flush": True})
    assert early.decision.kind is DecisionKind.SUPPRESSED
    assert early.decision.reason == (
        "throttled: once_after 5m, 1 event held since 12:00:00Z, fires at 12:05:00Z"
    )
    world.clock.advance(2)
    fired = world.decider.decide_one(first, match, pb, extra_flags={"throttle_flush": True})
    assert fired.decision.kind is DecisionKind.QUEUED, fired.decision.reason
    assert fired.run_id is not None
    assert any(
        said.startswith("ok: fired: once_after 5m")
        for name, said in fired.decision.trace
        if name == "throttle"
    )
    world.execute(fired.run_id)
    world.clock.advance(1)
    twice = world.decider.decide_one(first, match, pb, extra_flags={"throttle_flush": True})
    assert twice.decision.kind is DecisionKind.SUPPRESSED
    assert twice.decision.reason == "throttled: once_after 5m, nothing held"
    assert [r.id for r in world.runs()] == [fired.run_id]


def test_once_after_longer_than_max_event_age_still_fires(make_world: Callable[..., World]) -> None:
    """once_after 20m with max_event_age 15m: the held event is 20 minutes old when its window ends."""
    world = make_world(
        playbooks={"gc": playbook("gc", "gc pause", extra="throttle: {once_after: 20m}\n")},
        governance={"dedupe_window": 0, "cooldown": 0, "max_event_age": "15m"},
    )
    first = world.event("gc pause 812ms")
    assert world.one(first).decision.kind is DecisionKind.SUPPRESSED
    pipeline = Pipeline(
        store=world.store, decider=world.decider, runner=world.engine.runner, queue_size=10
    )
    world.clock.advance(20 * 60 + 1)
    anyio.run(pipeline._flush_held)
    anyio.run(pipeline._flush_held)
    stale = [
        e.payload["reason"]
        for e in world.store.audit_entries(action="decision.suppressed")
        if e.payload["guard"] == "stale_signal"
    ]
    assert stale == []
    assert [r.event["id"] for r in world.runs()] == [first.id]
    assert world.store.held_groups() == []


# -- 3. accumulate_within + threshold ----------------------------------------------------------


def test_accumulate_within_fires_on_the_threshold(make_world: Callable[..., World]) -> None:
    """accumulate_within 1m, threshold 3: two events suppressed, the third fires a run."""
    world = make_world(
        playbooks={
            "oom": playbook(
                "oom", "out of memory", extra="throttle: {accumulate_within: 1m, threshold: 3}\n"
            )
        },
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    reasons = []
    for _ in range(2):
        outcome = world.one(world.event("out of memory"))
        assert outcome.decision.kind is DecisionKind.SUPPRESSED
        assert outcome.decision.guard == "throttle"
        assert outcome.run_id is None
        reasons.append(outcome.decision.reason)
        world.clock.advance(20)
    assert reasons == [
        "throttled: accumulate_within 1m, 1 of 3 events since 12:00:00Z; "
        "the window closes at 12:01:00Z",
        "throttled: accumulate_within 1m, 2 of 3 events since 12:00:00Z; "
        "the window closes at 12:01:00Z",
    ]
    assert world.runs() == []
    third = world.one(world.event("out of memory"))
    assert third.decision.kind is DecisionKind.QUEUED, third.decision.reason
    assert third.run_id is not None
    assert [r.id for r in world.runs()] == [third.run_id]
    assert world.store.group(world.key(third)).suppressed == 2


def test_accumulate_within_restarts_after_the_window(make_world: Callable[..., World]) -> None:
    """Two events, then a third after the window closed: it starts a new count instead of firing."""
    world = make_world(
        playbooks={
            "oom": playbook(
                "oom", "out of memory", extra="throttle: {accumulate_within: 1m, threshold: 3}\n"
            )
        },
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    world.one(world.event("out of memory"))
    world.clock.advance(30)
    world.one(world.event("out of memory"))
    world.clock.advance(31)  # 61 s after the first: the window is over
    late = world.one(world.event("out of memory"))
    assert late.decision.kind is DecisionKind.SUPPRESSED
    assert late.decision.reason.startswith(
        "throttled: accumulate_within 1m, 1 of 3 events since 12:01:01Z"
    )
    assert world.runs() == []


# -- 4. dedupe window and cooldown --------------------------------------------------------------


def test_dedupe_window_then_cooldown_then_a_new_run(make_world: Callable[..., World]) -> None:
    """Repeats inside the dedupe window, then the cooldown, are counted on the run; after, a new run."""
    world = make_world(
        playbooks={"restart": playbook("restart", "connection refused")},
        governance={"dedupe_window": "1m", "cooldown": "5m"},
    )
    first = world.one(world.event("connection refused"))
    assert first.decision.kind is DecisionKind.QUEUED
    run_id = first.run_id
    assert run_id is not None

    # While the run is queued, a repeat is counted on it (the open incident).
    world.clock.advance(5)
    open_repeat = world.one(world.event("connection refused"))
    assert open_repeat.decision.kind is DecisionKind.SUPPRESSED
    assert open_repeat.decision.guard == "open_incident"
    assert open_repeat.decision.reason == f"run {run_id} is already open for this incident"

    world.clock.advance(5)  # the run ends at T+10s
    done = world.execute(run_id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.finished_at == T0 + timedelta(seconds=10)

    world.clock.advance(20)  # T+30s: 30 s after the run was created
    dedupe = world.one(world.event("connection refused"))
    assert dedupe.decision.kind is DecisionKind.SUPPRESSED
    assert dedupe.decision.guard == "repeat_window"
    assert dedupe.decision.reason == f"repeat within the dedupe window (1m) of run {run_id}"

    world.clock.advance(10 + 300 - 30 - 1)  # T+10s+cooldown-1s
    cooling = world.one(world.event("connection refused"))
    assert cooling.decision.kind is DecisionKind.SUPPRESSED
    assert cooling.decision.guard == "repeat_window"
    assert cooling.decision.reason == f"cooldown: run {run_id} ended 4m59s ago (cooldown 5m)"
    assert "cooldown" in cooling.decision.reason
    assert world.store.get_run(run_id).suppressed == 3
    assert world.store.group(world.key(first)).suppressed == 3

    world.clock.advance(2)  # T+10s+cooldown+1s
    fresh = world.one(world.event("connection refused"))
    assert fresh.decision.kind is DecisionKind.QUEUED, fresh.decision.reason
    assert fresh.run_id is not None
    assert fresh.run_id != run_id
    assert [r.id for r in world.runs()] == [run_id, fresh.run_id]
    assert world.store.get_run(run_id).suppressed == 3
    assert world.store.get_run(fresh.run_id).suppressed == 0


# -- 5. circuit breaker --------------------------------------------------------------------------


@dataclass
class Hook:
    """A real HTTP server on 127.0.0.1 recording every JSON body POSTed to it."""

    url: str
    received: list[tuple[str, dict[str, Any]]]


@pytest.fixture
def hook() -> Iterator[Hook]:
    """An escalation webhook receiver (``http.server`` in a thread)."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(f"http://127.0.0.1:{server.server_address[1]}/escalations", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


FAILING_STEP = """
steps:
  - name: try_it
    action: shell
    with: {argv: ["false"]}
"""

CIRCUIT = {
    "dedupe_window": 0,
    "cooldown": "1m",
    "max_attempts": 3,
    "attempts_window": "1h",
    "circuit_open_for": "1h",
}


def _fail_three_times(world: World) -> list[str]:
    """Three runs of ``flaky`` that fail, one minute and a second apart (past the cooldown)."""
    ids = []
    for n in range(3):
        if n:
            world.clock.advance(61)
        outcome = world.one(world.event("payment gateway timeout"))
        assert outcome.decision.kind is DecisionKind.QUEUED, outcome.decision.reason
        assert outcome.run_id is not None
        assert world.execute(outcome.run_id).status is RunStatus.FAILED
        ids.append(outcome.run_id)
    return ids


def test_circuit_opens_after_max_attempts_files_one_ticket_and_notifies(
    make_world: Callable[..., World], hook: Hook
) -> None:
    """3 failed runs, then a 4th signal: escalated, one ticket, the circuit row open, the webhook hit."""
    world = make_world(
        playbooks={"flaky": playbook("flaky", "payment gateway timeout", steps=FAILING_STEP)},
        governance={**CIRCUIT, "escalation_webhook": hook.url},
        notifier="webhook",
    )
    runs = _fail_three_times(world)
    assert world.store.list_tickets() == []

    world.clock.advance(61)
    fourth = world.one(world.event("payment gateway timeout"))
    assert fourth.decision.kind is DecisionKind.ESCALATED
    assert fourth.decision.guard == "circuit_breaker"
    assert fourth.decision.reason == (
        "3 attempts in 1h (max_attempts 3): the circuit opens, a ticket is filed and humans "
        "are notified"
    )
    assert fourth.run_id is None
    key = world.key(fourth)
    escalations = world.store.audit_entries(action="decision.escalated")
    assert [e.payload["reason"] for e in escalations] == [fourth.decision.reason]
    tickets = world.store.list_tickets()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket.title == "flaky keeps failing on api"
    assert ticket.severity == "critical"
    assert ticket.service == "api"
    assert ticket.context["incident"] == key
    group = world.store.group(key)
    now = world.clock.now()
    assert group.circuit_open_until == now + timedelta(hours=1)
    assert group.circuit_ticket_id == ticket.id
    assert hook.received == [
        (
            "/escalations",
            {
                "title": "flaky keeps failing on api",
                "message": fourth.decision.reason,
                "level": "critical",
                "service": "api",
                "playbook": "flaky",
                "incident": key,
                "ticket": ticket.id,
            },
        )
    ]

    world.clock.advance(61)
    fifth = world.one(world.event("payment gateway timeout"))
    assert fifth.decision.kind is DecisionKind.SUPPRESSED
    assert fifth.decision.guard == "circuit_breaker"
    assert fifth.decision.reason == (
        f"circuit open until {group.circuit_open_until.isoformat()} (ticket {ticket.id})"
    )
    assert fifth.decision.reason.startswith("circuit open")
    assert len(world.store.list_tickets()) == 1
    assert len(hook.received) == 1
    assert [r.id for r in world.runs()] == runs

    assert world.store.reset_circuit(key, by="alice") is True
    assert world.store.group(key).circuit_open_until is None
    assert world.store.reset_circuit(key, by="alice") is False
    resets = world.store.audit_entries(action="circuit.reset")
    assert [(e.actor, e.subject) for e in resets] == [("alice", key)]


def test_circuit_reset_lets_the_next_event_run(
    make_world: Callable[..., World],
) -> None:
    """After 'grace circuit reset' (the cause is fixed), the next event gets a run."""
    world = make_world(
        playbooks={"flaky": playbook("flaky", "payment gateway timeout", steps=FAILING_STEP)},
        governance=CIRCUIT,
    )
    _fail_three_times(world)
    world.clock.advance(61)
    escalated = world.one(world.event("payment gateway timeout"))
    assert escalated.decision.kind is DecisionKind.ESCALATED
    assert world.store.reset_circuit(world.key(escalated), by="alice") is True
    world.clock.advance(1)
    after = world.one(world.event("payment gateway timeout"))
    assert after.decision.kind is DecisionKind.QUEUED, after.decision.reason
    assert after.run_id is not None
    assert len(world.store.list_tickets()) == 1


def test_circuit_closes_by_itself_after_circuit_open_for(make_world: Callable[..., World]) -> None:
    """Once circuit_open_for has passed (and the attempts left the window), the next event runs."""
    world = make_world(
        playbooks={"flaky": playbook("flaky", "payment gateway timeout", steps=FAILING_STEP)},
        governance=CIRCUIT,
    )
    _fail_three_times(world)
    world.clock.advance(61)
    escalated = world.one(world.event("payment gateway timeout"))
    assert escalated.decision.kind is DecisionKind.ESCALATED
    world.clock.advance(3599)
    still = world.one(world.event("payment gateway timeout"))
    assert still.decision.kind is DecisionKind.SUPPRESSED
    assert still.decision.reason.startswith("circuit open until")
    world.clock.advance(2)
    after = world.one(world.event("payment gateway timeout"))
    assert after.decision.kind is DecisionKind.QUEUED, after.decision.reason
    assert len(world.store.list_tickets()) == 1


def test_escalation_with_a_dead_webhook_still_files_the_ticket(
    make_world: Callable[..., World],
) -> None:
    """A notifier that fails is logged; the ticket and the open circuit stand."""
    calls: list[dict[str, Any]] = []

    def broken(notice: dict[str, Any]) -> None:
        calls.append(notice)
        raise ConnectionError("webhook down")

    world = make_world(
        playbooks={"flaky": playbook("flaky", "payment gateway timeout", steps=FAILING_STEP)},
        governance=CIRCUIT,
        notifier=broken,
    )
    _fail_three_times(world)
    world.clock.advance(61)
    escalated = world.one(world.event("payment gateway timeout"))
    assert escalated.decision.kind is DecisionKind.ESCALATED
    tickets = world.store.list_tickets()
    assert len(tickets) == 1
    assert [c["ticket"] for c in calls] == [tickets[0].id]
    assert world.store.group(world.key(escalated)).circuit_ticket_id == tickets[0].id


# -- 6. silences -------------------------------------------------------------------------------


def test_silence_mutes_its_service_only_until_expired(make_world: Callable[..., World]) -> None:
    """A silence on service=api suppresses api's diagnoses (naming the silence), not web's."""
    world = make_world(
        playbooks={"restart": playbook("restart", "connection refused")},
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    now = world.clock.now()
    silence = new_silence(
        id="sil_maint",
        matchers=["service=api"],
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        author="alice",
        comment="maintenance",
        created_at=now,
    )
    world.store.add_silence(silence.to_dict(), actor="alice")

    world.clock.advance(60)
    muted = world.one(world.event("connection refused", service="api"))
    assert muted.decision.kind is DecisionKind.SUPPRESSED
    assert muted.decision.guard == "silenced"
    assert muted.decision.reason == (
        "silenced by sil_maint until 2026-01-01T14:00:00+00:00 (alice: maintenance)"
    )
    assert muted.decision.hint == "end it with 'grace silence expire sil_maint'"
    assert muted.run_id is None
    assert world.store.group(world.key(muted)).suppressed == 1
    audit = world.store.audit_entries(action="decision.suppressed")
    assert [e.payload["reason"] for e in audit] == [muted.decision.reason]

    other = world.one(world.event("connection refused", service="web"))
    assert other.decision.kind is DecisionKind.QUEUED, other.decision.reason
    assert other.run_id is not None

    assert world.store.expire_silence("sil_maint", by="bob") is True
    assert world.store.expire_silence("sil_maint", by="bob") is False
    assert world.store.silences(active_at=world.clock.now()) == []
    again = world.one(world.event("connection refused", service="api"))
    assert again.decision.kind is DecisionKind.QUEUED, again.decision.reason
    assert [r.service for r in world.runs()] == ["web", "api"]


def test_silence_cli_add_list_expire(
    make_world: Callable[..., World],
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`grace silence add/list/expire` on the real database; the silence it adds mutes the decider."""
    from grace.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "false")
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    base = ["--data-dir", str(tmp_path / ".grace"), "--database-url", database_url]

    def grace(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*base, *argv])
        return code, capsys.readouterr().out

    code, out = grace(
        "silence", "add", "service=api", "--for", "2h", "--comment", "maintenance", "--as", "alice"
    )
    assert code == 0, out
    added = out
    code, out = grace("silence", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert len(listed) == 1
    silence = listed[0]
    assert silence["matchers"] == ['service="api"']
    assert (silence["author"], silence["comment"]) == ("alice", "maintenance")
    starts = datetime.fromisoformat(silence["starts_at"])
    assert datetime.fromisoformat(silence["ends_at"]) - starts == timedelta(hours=2)
    assert added.strip() == f'silence {silence["id"]} until {silence["ends_at"]}: service="api"'

    world = make_world(
        playbooks={"restart": playbook("restart", "connection refused")},
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    world.clock.advance((starts + timedelta(minutes=1) - world.clock.now()).total_seconds())
    muted = world.one(world.event("connection refused", service="api"))
    assert muted.decision.kind is DecisionKind.SUPPRESSED
    assert muted.decision.reason.startswith(f"silenced by {silence['id']} until ")

    code, out = grace("silence", "expire", silence["id"], "--as", "bob")
    assert code == 0
    assert out.strip() == f"silence {silence['id']} ended"
    code, out = grace("silence", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out = grace("silence", "list", "--all", "--json")
    assert [s["id"] for s in json.loads(out)] == [silence["id"]]
    code, out = grace("silence", "expire", silence["id"])
    assert code == 1
    assert out.strip() == f"no active silence {silence['id']}"

    again = world.one(world.event("connection refused", service="api"))
    assert again.decision.kind is DecisionKind.QUEUED, again.decision.reason


# -- 7. inhibition -----------------------------------------------------------------------------


def test_a_critical_run_inhibits_lower_priority_playbooks_on_its_service(
    make_world: Callable[..., World],
) -> None:
    """A firing critical diagnosis on X (high priority) inhibits a low-priority playbook on X, not on Y."""
    world = make_world(
        playbooks={
            "failover_db": playbook(
                "failover_db", "primary database unreachable", extra="priority: high\n"
            ),
            "clear_cache": playbook("clear_cache", "cache miss storm", extra="priority: low\n"),
        },
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    critical = world.one(
        world.event("primary database unreachable", service="orders", severity="critical")
    )
    assert critical.decision.kind is DecisionKind.QUEUED
    assert critical.run_id is not None

    world.clock.advance(10)
    inhibited = world.one(world.event("cache miss storm", service="orders"))
    assert inhibited.decision.kind is DecisionKind.SUPPRESSED
    assert inhibited.decision.guard == "inhibition"
    assert inhibited.decision.reason == (
        f"inhibited: run {critical.run_id} of failover_db (priority high) handles a critical "
        "diagnosis on orders"
    )
    assert inhibited.run_id is None

    elsewhere = world.one(world.event("cache miss storm", service="billing"))
    assert elsewhere.decision.kind is DecisionKind.QUEUED, elsewhere.decision.reason

    # Once the critical run ended, the low-priority playbook runs on X again.
    assert world.execute(critical.run_id).status is RunStatus.SUCCEEDED
    world.clock.advance(1)
    after = world.one(world.event("cache miss storm", service="orders"))
    assert after.decision.kind is DecisionKind.QUEUED, after.decision.reason


def test_a_non_critical_run_inhibits_nothing(make_world: Callable[..., World]) -> None:
    """The same high-priority run started by an error (not critical) event does not inhibit."""
    world = make_world(
        playbooks={
            "failover_db": playbook(
                "failover_db", "primary database unreachable", extra="priority: high\n"
            ),
            "clear_cache": playbook("clear_cache", "cache miss storm", extra="priority: low\n"),
        },
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    first = world.one(
        world.event("primary database unreachable", service="orders", severity="error")
    )
    assert first.decision.kind is DecisionKind.QUEUED
    low = world.one(world.event("cache miss storm", service="orders"))
    assert low.decision.kind is DecisionKind.QUEUED, low.decision.reason


# -- 8. stale events ----------------------------------------------------------------------------


def test_stale_event_is_suppressed_and_a_fresh_one_runs(make_world: Callable[..., World]) -> None:
    """An event older than max_event_age starts nothing; the same failure, fresh, gets a run."""
    world = make_world(
        playbooks={"restart": playbook("restart", "connection refused")},
        governance={"dedupe_window": 0, "cooldown": 0, "max_event_age": "10m"},
    )
    stale = world.one(world.event("connection refused", age_s=601))
    assert stale.decision.kind is DecisionKind.SUPPRESSED
    assert stale.decision.guard == "stale_signal"
    assert stale.decision.reason == "stale: the event is 10m1s old (max_event_age 10m)"
    assert "stale" in stale.decision.reason
    assert stale.run_id is None
    assert world.runs() == []

    fresh = world.one(world.event("connection refused", age_s=599))
    assert fresh.decision.kind is DecisionKind.QUEUED, fresh.decision.reason
    assert fresh.run_id is not None


# -- 9. emergency stop --------------------------------------------------------------------------


def test_emergency_stop_blocks_decisions_and_manual_runs_and_aborts_queued(
    make_world: Callable[..., World],
) -> None:
    """Stop: queued runs aborted, new events blocked, manual runs refused; after clearing, runs again."""
    world = make_world(
        playbooks={"restart": playbook("restart", "connection refused")},
        governance={"dedupe_window": 0, "cooldown": 0},
    )
    queued = world.one(world.event("connection refused"))
    assert queued.decision.kind is DecisionKind.QUEUED
    assert queued.run_id is not None

    world.clock.advance(5)
    aborted = world.store.set_emergency_stop(by="ops", reason="bad deploy")
    assert aborted == [queued.run_id]
    run = world.store.get_run(queued.run_id)
    assert run.status is RunStatus.ABORTED
    assert run.error == "emergency_stop: bad deploy"

    world.clock.advance(5)
    blocked = world.one(world.event("connection refused", service="web"))
    assert blocked.decision.kind is DecisionKind.BLOCKED
    assert blocked.decision.guard == "emergency_stop"
    assert blocked.decision.reason == (
        "emergency_stop: set by ops at 2026-01-01T12:00:05+00:00: bad deploy"
    )
    assert blocked.decision.reason.startswith("emergency_stop")
    assert blocked.run_id is None

    with pytest.raises(RunRefused) as refused:
        world.engine.new_run("restart", requested_by="alice")
    assert refused.value.decision.kind is DecisionKind.BLOCKED
    assert refused.value.decision.reason.startswith("emergency_stop")
    assert [r.id for r in world.runs()] == [queued.run_id]
    blocked_audit = world.store.audit_entries(action="decision.blocked")
    assert [(e.actor, e.payload["guard"]) for e in blocked_audit] == [
        ("engine", "emergency_stop"),
        ("alice", "emergency_stop"),
    ]

    assert world.store.clear_emergency_stop(by="ops", reason="fixed") is True
    assert world.store.clear_emergency_stop(by="ops") is False
    world.clock.advance(1)
    resumed = world.one(world.event("connection refused", service="web"))
    assert resumed.decision.kind is DecisionKind.QUEUED, resumed.decision.reason
    manual = world.engine.new_run("restart", requested_by="alice")
    assert manual.status is RunStatus.QUEUED
    assert len(world.runs()) == 3


# -- 10. idempotent manual runs -----------------------------------------------------------------


def test_same_idempotency_key_returns_the_same_run(make_world: Callable[..., World]) -> None:
    """Two API requests with idempotency key k1: one run, the same id; another key, another run."""
    world = make_world(playbooks={"restart": playbook("restart", "connection refused")})
    first = world.engine.new_run("restart", requested_by="ci", trigger="api", idempotency_key="k1")
    world.clock.advance(1)
    second = world.engine.new_run("restart", requested_by="ci", trigger="api", idempotency_key="k1")
    assert second.id == first.id
    assert second.status is RunStatus.QUEUED
    assert world.store.count_runs() == 1
    assert world.store.run_for_idempotency_key("k1").id == first.id
    created = world.store.audit_entries(action="run.created")
    assert [e.subject for e in created] == [first.id]

    other = world.engine.new_run("restart", requested_by="ci", trigger="api", idempotency_key="k2")
    assert other.id != first.id
    assert world.store.count_runs() == 2


# -- change window, live --------------------------------------------------------------------------


def test_outside_the_window_a_blocked_run_waits_for_an_override(
    make_world: Callable[..., World],
) -> None:
    """Weekend (windows pinned to UTC): a medium-risk run is recorded blocked_change_window; an override queues it."""
    world = make_world(
        playbooks={
            "restart": playbook(
                "restart",
                "connection refused",
                extra="metadata: {risk_level: medium, autonomy_tier: 2}\n",
            )
        },
        governance={"dedupe_window": 0, "cooldown": 0, "change_windows": {"timezone": "UTC"}},
    )
    inside = world.one(world.event("connection refused", service="web"))
    assert inside.decision.kind is DecisionKind.QUEUED, inside.decision.reason

    world.clock.advance(2 * 86_400)  # Saturday 2026-01-03 12:00 UTC
    blocked = world.one(world.event("connection refused"))
    assert blocked.decision.kind is DecisionKind.BLOCKED
    assert blocked.decision.guard == "policy"
    assert blocked.decision.reason.startswith(
        "outside change windows (next opens Mon 2026-01-05 09:00 UTC): a medium-risk run waits"
    )
    assert blocked.run_id is not None
    run = world.store.get_run(blocked.run_id)
    assert run.status is RunStatus.BLOCKED_CHANGE_WINDOW
    assert run.approvals_needed == 1
    assert run.expires_at == world.clock.now() + timedelta(hours=1)

    repeat = world.one(world.event("connection refused"))
    assert repeat.decision.kind is DecisionKind.SUPPRESSED
    assert repeat.decision.reason == f"run {blocked.run_id} is already open for this incident"

    with pytest.raises(RunError, match="outside the change window"):
        world.store.approve_run(blocked.run_id, approver="alice")
    approved = world.store.approve_run(blocked.run_id, approver="alice", override_window=True)
    assert (approved.status, approved.approvals_needed) == (RunStatus.QUEUED, 0)
