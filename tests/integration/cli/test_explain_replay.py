"""`grace explain` and `grace replay`: the decision chain, and a backtest that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grace.cli import main

LOCK = """
name: lock_fix
triggers:
  - {type: log_message, pattern: 'database is locked', severity: error}
steps:
  - {name: a, action: log, with: {message: x}}
"""
MODULE = """
name: mod_fix
metadata: {auto_trigger: false}
triggers:
  - {type: exception, pattern: "No module named '(?P<module>[\\\\w.]+)'"}
steps:
  - {name: a, action: log, with: {message: x}}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two playbooks in a folder; settings pointed at the tmp dir."""
    d = tmp_path / "playbooks"
    d.mkdir()
    (d / "lock.yaml").write_text(LOCK)
    (d / "mod.yaml").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_PLAYBOOK_DIRS", str(d))
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "false")
    monkeypatch.setenv("GRACE_DATA_DIR", str(tmp_path / ".grace"))
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path


def test_explain_shows_matches_near_misses_and_guards(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A matching event: the trigger's checks, each guard, the decision and what would change it."""
    event = env / "event.json"
    event.write_text(
        json.dumps(
            {
                "kind": "log",
                "severity": "error",
                "message": "sqlite3.OperationalError: database is locked",
            }
        )
    )
    assert main(["explain", str(event), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (decision,) = report["decisions"]
    assert decision["playbook"] == "lock_fix"
    assert decision["decision"] == "proposed"
    assert [g["guard"] for g in decision["guards"]][-1] == "policy"
    assert "mode: execute" in decision["to_change"]
    near = json.dumps({"kind": "log", "severity": "warning", "message": "database is locked"})
    event.write_text(near)
    assert main(["explain", str(event)]) == 0
    out = capsys.readouterr().out
    assert "near miss" in out
    assert "below" in out  # severity warning is below the trigger's minimum


def test_explain_blocked_by_auto_trigger(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """auto_trigger: false → blocked, with the hint to run it manually."""
    event = env / "event.json"
    event.write_text(
        json.dumps({"kind": "exception", "message": "ModuleNotFoundError: No module named 'faiss'"})
    )
    assert main(["explain", str(event), "--json"]) == 0
    (decision,) = json.loads(capsys.readouterr().out)["decisions"]
    assert decision["decision"] == "blocked"
    assert decision["captures"] == {"module": "faiss"}
    assert "grace execute" in decision["to_change"]


def test_replay_log_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A log with noise, a lock error twice and a traceback: counts, incidents, nothing written."""
    lines = [f"2026-11-21 10:00:{i % 60:02d} INFO request {i} ok" for i in range(20_000)]
    lines.insert(100, "2026-11-21 ERROR sqlite3.OperationalError: database is locked")
    lines.insert(5000, "2026-11-21 ERROR sqlite3.OperationalError: database is locked")
    lines[9000:9000] = [
        "Traceback (most recent call last):",
        '  File "app.py", line 3, in <module>',
        "    import faiss",
        "ModuleNotFoundError: No module named 'faiss'",
    ]
    log = env / "app.log"
    log.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(log), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lines"] == len(lines)
    rows = {r["playbook"]: r for r in report["playbooks"]}
    assert rows["lock_fix"]["matches"] == 2
    assert rows["lock_fix"]["incidents"] == 1  # the same failure twice: one run, one suppressed
    assert rows["lock_fix"]["first_line"] == 101
    assert rows["mod_fix"]["decision"] == "blocked"
    assert rows["mod_fix"]["first_line"] == 9001
    assert not (env / ".grace").exists()


def test_replay_events_jsonl(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Events as JSON lines (either shape) are replayed the same way."""
    events = env / "events.jsonl"
    events.write_text(
        json.dumps({"kind": "log", "severity": "error", "message": "database is locked"})
        + "\n"
        + json.dumps({"event": {"kind": "log", "message": "fine"}, "event_key": "k"})
        + "\n"
    )
    assert main(["replay", str(events), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "events-jsonl"
    assert report["events"] == 2
    assert [r["playbook"] for r in report["playbooks"]] == ["lock_fix"]
