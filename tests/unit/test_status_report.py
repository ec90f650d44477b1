"""``grace.status``: the state and its reasons, decided from real stores in real situations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import create_engine, text

from grace.config import Settings
from grace.engine import Engine
from grace.runs import RunStatus
from grace.status import State, build_status, to_json, to_markdown

NO_WINDOWS = {"change_windows": {"enabled": False}}
CRITICAL = """
name: drop_replica
metadata: {risk_level: critical, autonomy_tier: 2}
steps:
  - {name: drop, action: log, with: {message: dropping}}
"""
BROKEN = """
name: restart_api
steps:
  - {name: restart, action: shell, with: {argv: ["false"]}}
recovery:
  on_failure:
    - {action: ticket.open, with: {title: "api still down", severity: critical}}
"""
BROKEN_QUIET = """
name: flush_cache
steps:
  - {name: flush, action: shell, with: {argv: ["false"]}}
"""
FINE = """
name: rotate_logs
steps:
  - {name: rotate, action: log, with: {message: rotating}}
"""


def _settings(tmp_path: Path, database_url: str, playbook_dir: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        governance=NO_WINDOWS,
        **extra,
    )


@pytest.fixture
def engine(tmp_path: Path, database_url: str, playbook_dir: Path) -> Iterator[Engine]:
    """An engine on the test's database with the four playbooks above."""
    for name, body in (
        ("drop_replica", CRITICAL),
        ("restart_api", BROKEN),
        ("flush_cache", BROKEN_QUIET),
        ("rotate_logs", FINE),
    ):
        (playbook_dir / f"{name}.yaml").write_text(body, encoding="utf-8")
    with Engine(_settings(tmp_path, database_url, playbook_dir)) as eng:
        yield eng


def _run(engine: Engine, name: str, **kw: Any) -> Any:
    async def go() -> Any:
        return await engine.execute(name, requested_by="alice", **kw)

    return anyio.run(go)


def _codes(report: Any) -> list[tuple[str, str]]:
    return [(r.level.value, r.code) for r in report.reasons]


def test_fresh_install_is_operational(engine: Engine) -> None:
    """No runs, no stop, an empty verified audit log: OPERATIONAL with no reasons."""
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.OPERATIONAL
    assert report.reasons == ()
    assert report.audit.ok is True
    assert report.commands == ()
    assert report.exit_code == 0
    assert report.mode == "observe"


def test_succeeded_run_stays_operational_and_shows_in_tables(engine: Engine) -> None:
    """A successful run on a service: OPERATIONAL, listed in recent runs, its service healthy."""
    run = _run(engine, "rotate_logs", event=None, vars={})
    assert run.status is RunStatus.SUCCEEDED
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.OPERATIONAL
    assert [r["id"] for r in report.recent_runs] == [run.id]
    assert report.recent_runs[0]["status"] == "succeeded"
    assert report.audit.entries is not None
    assert report.audit.entries > 0


def test_pending_critical_approval_is_degraded(engine: Engine) -> None:
    """A critical playbook waiting for two approvals: DEGRADED, with approve/reject commands."""
    run = engine.new_run("drop_replica", requested_by="alice")
    assert run.status is RunStatus.AWAITING_APPROVAL
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.DEGRADED
    assert _codes(report) == [("DEGRADED", "pending_approval")]
    assert report.reasons[0].message == (
        f"run {run.id} (drop_replica, risk critical) is awaiting_approval, 2 approval(s) missing"
    )
    [pending] = report.pending_approvals
    assert (pending["id"], pending["risk_level"], pending["approvals_needed"]) == (
        run.id,
        "critical",
        2,
    )
    assert pending["expires_at"] is not None
    assert report.commands == (f"grace approve {run.id}", f"grace reject {run.id} --reason TEXT")
    assert report.exit_code == 1


def test_failed_run_with_open_ticket_is_critical_then_degraded_then_gone(engine: Engine) -> None:
    """A failed run whose recovery opened a ticket: CRITICAL for an hour, DEGRADED for a day."""
    run = _run(engine, "restart_api")
    assert run.status is RunStatus.ROLLED_BACK  # the restart failed; recovery filed the ticket
    [ticket] = engine.store.list_tickets()
    assert ticket.run_id == run.id
    now = engine.clock.now()
    report = build_status(engine.store, engine.settings, now=now)
    assert report.state is State.CRITICAL
    assert _codes(report) == [("CRITICAL", "failed_run_ticket"), ("DEGRADED", "failed_run")]
    assert f"ticket {ticket.id} is open" in report.reasons[0].message
    assert f"grace runs show {run.id}" in report.commands
    assert "grace tickets" in report.commands
    assert report.failed_24h == 1
    assert report.exit_code == 5
    [service_row] = [t for t in report.open_tickets if t["id"] == ticket.id]
    assert service_row["run_id"] == run.id

    later = build_status(engine.store, engine.settings, now=now + timedelta(hours=2))
    assert later.state is State.DEGRADED
    assert _codes(later) == [("DEGRADED", "failed_run")]

    next_day = build_status(engine.store, engine.settings, now=now + timedelta(hours=25))
    assert next_day.state is State.OPERATIONAL
    assert next_day.failed_24h == 0


def test_failed_run_without_ticket_is_only_degraded(engine: Engine) -> None:
    """A failed run nobody was ticketed for: DEGRADED (``failed_run``), not CRITICAL."""
    run = _run(engine, "flush_cache")
    assert run.status is RunStatus.FAILED
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.DEGRADED
    assert _codes(report) == [("DEGRADED", "failed_run")]
    assert report.reasons[0].message == (
        f"1 run(s) did not succeed in the last 24 h (latest: {run.id} flush_cache failed)"
    )


def test_emergency_stop_is_critical_and_says_how_to_resume(engine: Engine) -> None:
    """The emergency stop in force: CRITICAL, the stop shown, ``grace resume`` suggested."""
    engine.store.set_emergency_stop(by="bob", reason="db migration")
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.CRITICAL
    assert _codes(report) == [("CRITICAL", "emergency_stop")]
    assert report.reasons[0].message.endswith("by bob: db migration")
    assert report.emergency_stop is not None
    assert report.emergency_stop["by"] == "bob"
    assert report.commands == ("grace resume --reason TEXT",)
    engine.store.clear_emergency_stop(by="bob")
    assert build_status(engine.store, engine.settings, now=engine.clock.now()).state is (
        State.OPERATIONAL
    )


def test_tampered_audit_log_is_critical(
    tmp_path: Path, database_url: str, playbook_dir: Path
) -> None:
    """An audit entry edited behind Grace's back: CRITICAL ``audit_failed`` naming the seq."""
    (playbook_dir / "rotate_logs.yaml").write_text(FINE, encoding="utf-8")
    settings = _settings(tmp_path, database_url, playbook_dir)
    with Engine(settings) as eng:
        _run(eng, "rotate_logs")
    raw = create_engine(database_url)
    with raw.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
    raw.dispose()
    with Engine(settings) as eng:
        report = build_status(eng.store, settings, now=eng.clock.now())
        skipped = build_status(eng.store, settings, now=eng.clock.now(), verify_audit=False)
    assert report.state is State.CRITICAL
    assert _codes(report) == [("CRITICAL", "audit_failed")]
    assert report.audit.ok is False
    assert report.audit.first_bad_seq == 1
    assert "grace audit verify" in report.commands
    assert skipped.state is State.OPERATIONAL
    assert skipped.audit.verified is False


def test_open_circuit_is_degraded_with_reset_command(engine: Engine) -> None:
    """An incident whose circuit is open (found through its ticket): DEGRADED until it closes."""
    now = engine.clock.now()
    key = "restart_api:abc123"
    engine.store.open_circuit(
        key,
        playbook="restart_api",
        service="api",
        until=now + timedelta(minutes=30),
        title="restart_api keeps failing on api",
        body="",
        context={"incident": key},
        drafts=[],
    )
    report = build_status(engine.store, engine.settings, now=now)
    assert report.state is State.DEGRADED
    assert _codes(report) == [("DEGRADED", "circuit_open")]
    assert [c["incident"] for c in report.circuits] == [key]
    assert f"grace circuit reset {key}" in report.commands
    closed = build_status(engine.store, engine.settings, now=now + timedelta(minutes=31))
    assert closed.circuits == ()
    assert closed.state is State.OPERATIONAL


def test_stale_heartbeat_is_degraded(tmp_path: Path, database_url: str, playbook_dir: Path) -> None:
    """A configured push heartbeat silent past its timeout is DEGRADED; one never configured is listed only."""
    settings = _settings(
        tmp_path,
        database_url,
        playbook_dir,
        sources=[
            {"type": "heartbeat", "name": "runner", "timeout_s": 30},
            {"type": "heartbeat", "name": "never_seen", "timeout_s": 30},
        ],
    )
    with Engine(settings) as eng:
        at = eng.store.beat("runner")
        eng.store.beat("adhoc")
        fresh = build_status(eng.store, settings, now=at + timedelta(seconds=10))
        stale = build_status(eng.store, settings, now=at + timedelta(seconds=31))
    assert _codes(fresh) == [("DEGRADED", "heartbeat_stale")]  # never_seen never pinged
    assert [(h["name"], h["stale"]) for h in fresh.heartbeats] == [
        ("adhoc", False),
        ("never_seen", True),
        ("runner", False),
    ]
    assert [r.message.split(" silent")[0] for r in stale.reasons] == [
        "heartbeat never_seen",
        "heartbeat runner",
    ]


def test_markdown_and_json_carry_the_same_report(engine: Engine) -> None:
    """The markdown report has the state, the reasons, the job table and the commands; JSON the same."""
    pending = engine.new_run("drop_replica", requested_by="alice")
    failed = _run(engine, "restart_api")
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    md = to_markdown(report)
    assert md.startswith("# Grace status: CRITICAL\n")
    assert "- **CRITICAL** `failed_run_ticket`" in md
    assert "- **DEGRADED** `pending_approval`" in md
    assert "## Pending approvals" in md
    assert f"| {pending.id} | drop_replica | — | critical | 2 |" in md
    assert f"| {failed.id} | restart_api | — | rolled_back |" in md
    assert f"- `grace approve {pending.id}`" in md
    doc = to_json(report)
    assert doc["state"] == "CRITICAL"
    assert [r["code"] for r in doc["reasons"]] == [
        "failed_run_ticket",
        "pending_approval",
        "failed_run",
    ]
    assert doc["pending_approvals"][0]["id"] == pending.id
    assert doc["recent_runs"][0]["id"] == failed.id
    assert doc["audit"]["ok"] is True


def test_proposals_are_listed_but_do_not_degrade(engine: Engine) -> None:
    """An observe-mode proposal cannot be approved: listed under proposals, state OPERATIONAL."""
    run = engine.new_run("drop_replica", requested_by="alice", status=RunStatus.PROPOSED)
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert report.state is State.OPERATIONAL
    assert [p["id"] for p in report.proposals] == [run.id]
    assert report.pending_approvals == ()
    assert "## Proposals (observe mode)" in to_markdown(report)


def test_pending_runs_past_their_expiry_no_longer_count(engine: Engine) -> None:
    """A run awaiting approval past its ``expires_at`` is not pending any more (read-only: not marked)."""
    run = engine.new_run("drop_replica", requested_by="alice")
    assert run.expires_at is not None
    report = build_status(engine.store, engine.settings, now=run.expires_at)
    assert report.state is State.OPERATIONAL
    assert report.pending_approvals == ()
    assert engine.store.get_run(run.id).status is RunStatus.AWAITING_APPROVAL


def test_many_pending_runs_are_summed_up(engine: Engine) -> None:
    """Beyond five pending runs, one reason counts the rest and points to ``grace approvals``."""
    runs = [engine.new_run("drop_replica", requested_by="alice") for _ in range(7)]
    report = build_status(engine.store, engine.settings, now=engine.clock.now())
    assert [r.code for r in report.reasons] == ["pending_approval"] * 6
    assert report.reasons[-1].message == "2 more run(s) await approval"
    assert len(report.pending_approvals) == 7
    assert report.commands[-1] == "grace approvals"
    assert f"grace approve {runs[4].id}" in report.commands
    assert f"grace approve {runs[5].id}" not in report.commands
