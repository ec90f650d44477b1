"""Approvals through the real CLI: four eyes, a quorum of two, expiry; every decision audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from grace.cli import main
from grace.config import Settings
from grace.engine import Engine
from grace.runs import RunStatus
from grace.testing import FakeClock

CRITICAL = """
name: drop_replica
metadata: {risk_level: critical, autonomy_tier: 2}
steps:
  - name: drop
    action: file.write
    with: {path: "{out}", content: "dropped"}
    backup: false
"""

NO_WINDOWS = {"change_windows": {"enabled": False}}


@pytest.fixture
def cli(
    tmp_path: Path, database_url: str, playbook_dir: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)`` runs ``grace`` against the test's database; returns (code, out, err)."""
    config = tmp_path / "grace.yaml"
    config.write_text(
        "bundled_playbooks: false\n"
        f"governance: {json.dumps(NO_WINDOWS)}\n"
        f"log_dir: {json.dumps(str(tmp_path / 'logs'))}\n"
    )
    base = [
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / ".grace"),
        "--database-url",
        database_url,
        "--playbooks",
        str(playbook_dir),
    ]

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*base, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_critical_run_needs_two_distinct_approvers_not_its_requester(
    cli: Callable[..., tuple[int, str, str]],
    write_playbook: Callable[[str, str], Path],
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
) -> None:
    """The requester's approval is refused; bob, then carol, queue it; it then runs."""
    out_file = tmp_path / "replica.txt"
    write_playbook("drop_replica", CRITICAL.replace("{out}", str(out_file)))
    code, out, _ = cli("execute", "drop_replica", "--as", "alice")
    assert code == 1
    assert "awaiting_approval" in out
    assert not out_file.exists()
    code, out, _ = cli("approvals", "--json")
    [pending] = json.loads(out)
    run_id = pending["id"]
    assert (pending["status"], pending["approvals_needed"]) == ("awaiting_approval", 2)
    assert pending["requested_by"] == "alice"

    code, _, err = cli("approve", run_id, "--as", "alice")
    assert code == 1
    assert "alice requested run" in err
    assert "four eyes" in err
    code, out, _ = cli("approve", run_id, "--as", "bob", "--reason", "checked the lag")
    assert (code, "1 more approval(s) needed" in out) == (0, True)
    code, _, err = cli("approve", run_id, "--as", "bob")
    assert code == 1
    assert "bob has already given a verdict" in err
    code, out, _ = cli("approve", run_id, "--as", "carol", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "queued"

    # A worker (here this process; normally 'grace serve') takes the queued run.
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        governance=NO_WINDOWS,
    )
    with Engine(settings) as engine:
        final = anyio.run(engine.runner.execute, run_id)
        verdicts = engine.store.approvals_of(run_id)
        approved = engine.store.audit_entries(subject=run_id, action="run.approved")
    assert final.status is RunStatus.SUCCEEDED, final.error
    assert out_file.read_text() == "dropped"
    assert [(v.approver, v.verdict) for v in verdicts] == [
        ("bob", "approved"),
        ("carol", "approved"),
    ]
    assert [e.actor for e in approved] == ["bob", "carol"]
    code, out, _ = cli("runs", "show", run_id)
    assert "approved by bob" in out
    assert "checked the lag" in out
    assert "approved by carol" in out


def test_an_approval_left_alone_expires_on_time(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> None:
    """A pending run expires exactly at its TTL (time travel), is audited, and cannot be approved."""
    write_playbook("drop_replica", CRITICAL.replace("{out}", str(tmp_path / "x")))
    clock = FakeClock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        governance={**NO_WINDOWS, "approval_ttl": "30m"},
    )
    with Engine(settings, clock=clock) as engine:
        run = engine.new_run("drop_replica", requested_by="alice")
        assert run.status is RunStatus.AWAITING_APPROVAL
        assert run.expires_at == clock.now() + timedelta(minutes=30)
        clock.advance(29 * 60 + 59)
        assert engine.store.expire_pending() == []
        clock.advance(1)
        assert engine.store.expire_pending() == [run.id]
        expired = engine.store.get_run(run.id)
        assert expired.status is RunStatus.EXPIRED
        assert expired.finished_at == clock.now()
        assert engine.store.pending_runs() == []
        [entry] = engine.store.audit_entries(subject=run.id, action="run.expired")
        assert entry.payload == {"from": "awaiting_approval"}
        with pytest.raises(Exception, match="expired"):
            engine.store.approve_run(run.id, approver="bob")


def test_a_pending_run_expires_in_a_running_daemon(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
) -> None:
    """Nothing stays pending forever: the daemon's maintenance tick expires it in real time."""
    from grace.daemon import Daemon

    write_playbook("drop_replica", CRITICAL.replace("{out}", str(tmp_path / "x")))
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        bundled_playbooks=False,
        log_dir=tmp_path / "logs",
        mode="execute",
        governance={**NO_WINDOWS, "approval_ttl": "1s"},
        listen="127.0.0.1:0",
    )

    async def scenario() -> RunStatus:
        daemon = Daemon.create(settings)
        daemon.pipeline.tick_s = 0.1
        try:
            run = await anyio.to_thread.run_sync(
                lambda: daemon.engine.new_run("drop_replica", requested_by="alice")
            )
            async with anyio.create_task_group() as tg:
                await tg.start(daemon.pipeline.run)
                with anyio.fail_after(10):
                    while True:
                        now = await anyio.to_thread.run_sync(daemon.engine.store.get_run, run.id)
                        if now.status is not RunStatus.AWAITING_APPROVAL:
                            break
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
            return now.status
        finally:
            daemon.engine.close()

    assert anyio.run(scenario) is RunStatus.EXPIRED
