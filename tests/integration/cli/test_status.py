"""``grace status``: the terminal overview, the markdown and JSON report, ``--check`` exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def grace_ng(grace: Any, tmp_path: Path) -> Any:
    """``grace`` with change windows off (./grace.yaml) and the two playbooks above."""
    (tmp_path / "grace.yaml").write_text(
        "governance: {change_windows: {enabled: false}}\n", encoding="utf-8"
    )
    grace.write("drop_replica", CRITICAL)
    grace.write("restart_api", BROKEN)
    return grace


def test_fresh_install_is_operational(grace_ng: Any) -> None:
    """Nothing happened yet: OPERATIONAL, exit 0 with and without --check."""
    code, out, err = grace_ng("status")
    assert code == 0, err
    assert out.splitlines()[0] == "Grace OPERATIONAL"
    assert "mode: observe · emergency stop: off · audit: OK: 0 entries" in out
    assert "no runs yet" in out
    code, _, _ = grace_ng("status", "--check")
    assert code == 0
    code, out, _ = grace_ng("status", "--format", "json")
    doc = json.loads(out)
    assert (doc["state"], doc["reasons"], doc["commands"]) == ("OPERATIONAL", [], [])


def test_failed_run_and_pending_approval_are_critical(grace_ng: Any) -> None:
    """A rolled-back repair with its ticket open, and a critical run awaiting two approvals."""
    code, _, _ = grace_ng("execute", "restart_api")
    assert code == 1
    code, out, _ = grace_ng("execute", "drop_replica", "--as", "alice", "--json")
    assert code == 1
    pending_id = json.loads(out)["id"]
    code, out, _ = grace_ng("runs", "--json")
    failed_id = next(r["id"] for r in json.loads(out) if r["playbook"] == "restart_api")

    code, out, err = grace_ng("status")
    assert code == 0, err  # without --check, status always exits 0
    lines = out.splitlines()
    assert lines[0] == "Grace CRITICAL"
    assert lines[1].startswith(f"  • run {failed_id} (restart_api) rolled_back ")
    assert "Pending approvals" in out
    assert "Recent runs" in out
    assert "Open tickets" in out
    assert "api still down" in out
    assert "Commands to act" in out
    assert f"  grace approve {pending_id}" in lines
    assert f"  grace runs show {failed_id}" in lines

    code, _, _ = grace_ng("status", "--check")
    assert code == 5

    code, out, _ = grace_ng("status", "--format", "json")
    doc = json.loads(out)
    assert doc["state"] == "CRITICAL"
    assert [(r["level"], r["code"]) for r in doc["reasons"]] == [
        ("CRITICAL", "failed_run_ticket"),
        ("DEGRADED", "pending_approval"),
        ("DEGRADED", "failed_run"),
    ]
    assert doc["pending_approvals"] == [
        {
            "id": pending_id,
            "playbook": "drop_replica",
            "service": "",
            "status": "awaiting_approval",
            "risk_level": "critical",
            "approvals_needed": 2,
            "requested_by": "alice",
            "expires_at": doc["pending_approvals"][0]["expires_at"],
        }
    ]
    assert [r["id"] for r in doc["recent_runs"]] == [pending_id, failed_id]
    assert doc["audit"]["ok"] is True
    assert doc["commands"] == [
        f"grace runs show {failed_id}",
        f"grace approve {pending_id}",
        f"grace reject {pending_id} --reason TEXT",
        "grace tickets",
    ]

    code, out, _ = grace_ng("status", "--format", "markdown")
    assert code == 0
    assert out.startswith("# Grace status: CRITICAL\n")
    assert "## Pending approvals" in out
    assert f"| {pending_id} | drop_replica | — | critical | 2 |" in out
    assert f"- `grace approve {pending_id}`" in out


def test_emergency_stop_then_resume(grace_ng: Any) -> None:
    """`grace stop --emergency` makes status CRITICAL (exit 5 with --check); `grace resume` clears it."""
    code, _, err = grace_ng("stop", "--emergency", "--reason", "migration", "--as", "bob")
    assert code == 0, err
    code, out, _ = grace_ng("status", "--check", "--format", "json")
    assert code == 5
    doc = json.loads(out)
    assert [r["code"] for r in doc["reasons"]] == ["emergency_stop"]
    assert doc["emergency_stop"]["by"] == "bob"
    assert doc["commands"] == ["grace resume --reason TEXT"]
    code, out, _ = grace_ng("status")
    assert "emergency stop: IN FORCE (by bob)" in out
    code, _, _ = grace_ng("resume", "--as", "bob")
    assert code == 0
    code, out, _ = grace_ng("status", "--check")
    assert code == 0
    assert out.startswith("Grace OPERATIONAL")


def test_pending_approval_alone_is_degraded_exit_1_with_check(grace_ng: Any) -> None:
    """Only a run waiting for approval: DEGRADED; --check exits 1."""
    grace_ng("execute", "drop_replica", "--as", "alice")
    code, out, _ = grace_ng("status", "--check")
    assert code == 1
    assert out.startswith("Grace DEGRADED")


def test_bad_format_is_a_usage_error(grace_ng: Any) -> None:
    """An unknown --format is a usage error (exit 2)."""
    code, _, _ = grace_ng("status", "--format", "yaml")
    assert code == 2


def test_status_in_a_real_process(grace_ng: Any) -> None:
    """`python -m grace status --format json` in a child process prints the report."""
    done = grace_ng.run_process("status", "--format", "json", "--no-verify")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["state"] == "OPERATIONAL"
    assert doc["audit"]["verified"] is False
