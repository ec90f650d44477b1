"""The CLI's commands against a real database: exit codes, text and JSON."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

FLAKY = """
name: flaky
steps:
  - name: prepare
    action: log
    with: {message: "starting"}
  - name: flaky_step
    action: shell
    with:
      argv: ["sh", "-c", 'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"; [ "$n" -ge 3 ]', "sh", "{counter}"]
    retries: 3
    retry_delay_s: 0.01
"""


def test_execute_then_runs_show_prints_timeline(grace: Any, tmp_path: Path) -> None:
    """`grace execute` of a step failing twice then succeeding; `grace runs show` shows 3 timed attempts."""
    grace.write("flaky", FLAKY.replace("{counter}", str(tmp_path / "n")))
    code, out, err = grace("execute", "flaky", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "succeeded"
    tries = [(s["step"], s["attempt"], s["status"]) for s in run["steps"]]
    assert tries == [
        ("prepare", 1, "succeeded"),
        ("flaky_step", 1, "failed"),
        ("flaky_step", 2, "failed"),
        ("flaky_step", 3, "succeeded"),
    ]
    code, out, _ = grace("runs", "show", run["id"])
    assert code == 0
    assert run["id"] in out
    assert "succeeded" in out
    rows = [line for line in out.splitlines() if "flaky_step" in line and "shell" in line]
    assert len(rows) == 3
    assert all(" ms" in row for row in rows)  # each attempt shows its duration
    code, out, _ = grace("runs", "--json")
    assert [r["id"] for r in json.loads(out)] == [run["id"]]


def test_execute_unknown_playbook_suggests(grace: Any) -> None:
    """A misspelled playbook name fails with exit 1 and a did-you-mean hint."""
    grace.write(
        "restart_api", "name: restart_api\nsteps:\n  - {name: a, action: log, with: {message: x}}\n"
    )
    code, _, err = grace("execute", "restart_apj")
    assert code == 1
    assert "no playbook named 'restart_apj'" in err
    assert "did you mean 'restart_api'?" in err


def test_failed_run_exits_1(grace: Any) -> None:
    """A run that fails makes `grace execute` exit 1."""
    grace.write("bad", "name: bad\nsteps:\n  - {name: a, action: shell, with: {argv: ['false']}}\n")
    code, out, _ = grace("execute", "bad")
    assert code == 1
    assert "failed" in out


def test_dry_run_touches_nothing(grace: Any, tmp_path: Path) -> None:
    """`grace test NAME --dry-run` prints rendered params and conditions; no file, no database is created."""
    target = tmp_path / "target.txt"
    grace.write(
        "writer",
        f"""
        name: writer
        conditions:
          - check: "vars.size > 1"
            reason: only for big ones
        steps:
          - name: write
            action: file.write
            with: {{path: "{target}", content: "size={{{{ vars.size }}}}"}}
          - name: run_cmd
            action: shell
            with: {{argv: ["touch", "{tmp_path / "touched"}"]}}
            when: "steps.write.outputs.bytes > 0"
        """,
    )
    code, out, err = grace("test", "writer", "--dry-run", "--var", "size=5")
    assert code == 0, err
    assert "size=5" in out
    assert "holds" in out
    assert "decided at run time" in out
    code, out, _ = grace("test", "writer", "--dry-run", "--var", "size=5", "--json")
    plan = json.loads(out)
    assert plan["steps"][0]["params"]["content"] == "size=5"
    assert plan["conditions"][0]["result"] is True
    assert not target.exists()
    assert not (tmp_path / "touched").exists()
    assert not (tmp_path / ".grace" / "grace.db").exists()


# These edit the SQLite file directly; PostgreSQL tampering is covered in tests/integration/audit.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_audit_verify_detects_edit_and_delete(grace: Any, tmp_path: Path) -> None:
    """Editing one audit row makes `grace audit verify` fail naming that seq; deleting one likewise."""
    grace.write("hello", "name: hello\nsteps:\n  - {name: a, action: log, with: {message: x}}\n")
    for _ in range(3):
        assert grace("execute", "hello")[0] == 0
    code, out, _ = grace("audit", "verify")
    assert code == 0, out
    assert "OK" in out
    db = tmp_path / "grace.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET payload = '{\"forged\":true}' WHERE seq = 5")
    code, out, _ = grace("audit", "verify")
    assert code == 4
    assert "seq 5" in out
    code, out, _ = grace("audit", "verify", "--json")
    assert json.loads(out)["first_bad_seq"] == 5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_audit_verify_detects_deleted_row(grace: Any, tmp_path: Path) -> None:
    """Deleting one audit row makes `grace audit verify` name the missing seq."""
    grace.write("hello", "name: hello\nsteps:\n  - {name: a, action: log, with: {message: x}}\n")
    assert grace("execute", "hello")[0] == 0
    with sqlite3.connect(tmp_path / "grace.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    code, out, _ = grace("audit", "verify")
    assert code == 4
    assert "seq 3" in out


def test_audit_export_and_mirror(grace: Any, tmp_path: Path) -> None:
    """`grace audit export` writes JSONL equal to the grep-able mirror in logs/immutable_audit.jsonl."""
    grace.write("hello", "name: hello\nsteps:\n  - {name: a, action: log, with: {message: x}}\n")
    assert grace("execute", "hello")[0] == 0
    code, _, _ = grace("audit", "export", "-o", str(tmp_path / "audit.jsonl"))
    assert code == 0
    exported = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    mirrored = [
        json.loads(line)
        for line in (tmp_path / "logs" / "immutable_audit.jsonl").read_text().splitlines()
    ]
    assert [e["seq"] for e in exported] == list(range(1, len(exported) + 1))
    assert [e["hash"] for e in exported] == [e["hash"] for e in mirrored]
    assert {"run.created", "run.started", "step.started", "step.succeeded", "run.succeeded"} <= {
        e["action"] for e in exported
    }


def test_config_show_names_origins(grace: Any, tmp_path: Path) -> None:
    """`grace config show --json` says where each setting came from."""
    (tmp_path / "grace.yaml").write_text("run_timeout_min: 12\nlog_level: DEBUG\n")
    code, out, _ = grace("config", "show", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run_timeout_min"] == {"value": 12.0, "from": "grace.yaml:1"}
    assert shown["log_level"]["from"] == "grace.yaml:2"
    assert shown["data_dir"]["from"] == "env GRACE_DATA_DIR"
    assert shown["mode"] == {"value": "observe", "from": "default"}


def test_bad_config_is_a_clear_error(grace: Any, tmp_path: Path) -> None:
    """An unknown key in grace.yaml: exit 2, file:line and a did-you-mean."""
    (tmp_path / "grace.yaml").write_text("log_levle: DEBUG\n")
    code, _, err = grace("config", "show")
    assert code == 2
    assert "grace.yaml:1: unknown setting 'log_levle'" in err
    assert "did you mean 'log_level'?" in err


def test_seed_entry_point(grace: Any) -> None:
    """`python -m grace.playbook_engine execute NAME` and `test NAME --dry-run` work as the seeds expect."""
    import os
    import subprocess
    import sys

    grace.write("hello", "name: hello\nsteps:\n  - {name: a, action: log, with: {message: x}}\n")
    env = {**os.environ, **grace.env}
    done = subprocess.run(
        [sys.executable, "-m", "grace.playbook_engine", "execute", "hello"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    dry = subprocess.run(
        [sys.executable, "-m", "grace.playbook_engine", "test", "hello", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout


def test_logs_filter_by_run(grace: Any) -> None:
    """`grace logs --run RUN_ID --json` returns that run's records, with its correlation ids."""
    grace.write("hello", "name: hello\nsteps:\n  - {name: a, action: log, with: {message: hi}}\n")
    code, out, _ = grace("execute", "hello", "--json")
    assert code == 0
    run_id = json.loads(out)["id"]
    assert grace("execute", "hello")[0] == 0  # a second run whose records must not show up
    code, out, _ = grace("logs", "--run", run_id, "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records
    assert {r["run_id"] for r in records} == {run_id}
    assert {"run.started", "step.succeeded", "run.succeeded"} <= {r["event_type"] for r in records}
    assert all(r["playbook_id"] == "hello" for r in records)
    code, out, _ = grace("logs", "--run", run_id, "--subsystem", "runner")
    assert code == 0
    assert "step.succeeded" in out
    code, out, _ = grace("logs", "--errors", "--json")
    assert code == 0
    assert out.strip() == ""
