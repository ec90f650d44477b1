"""A playbook calls ``ports.scan`` and ``ports.prune`` (what ``port_inventory_cleanup`` needs),
run with ``grace execute`` against a real listener."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from grace.cli import main
from grace.ports import read_monitor

Listen = Callable[..., tuple[subprocess.Popen[str], int]]
"""The ``listen`` fixture (conftest.py): start a real listener, get it and its port."""

PLAYBOOK = """
name: ports_check
metadata: {auto_trigger: false}
triggers:
  - {type: manual}
steps:
  - name: scan
    action: ports.scan
    with: {range: "{{ vars.range }}"}
    outputs: [ports]
  - name: prune
    action: ports.prune
    with:
      range: "{{ vars.range }}"
      services: {api: ["{{ vars.port }}"]}
      grace_s: 600
    outputs: [pruned, conflicts, monitor]
  - name: report
    action: log
    with: {message: "pruned {{ steps.prune.outputs.pruned | length }}, monitoring {{ steps.prune.outputs.monitor | length }}"}
"""


def test_a_playbook_prunes_a_dead_owner(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    listen: Listen,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """First run: the listener is adopted for api and monitored. The child dies. Second run:
    the step's outputs name the pruned port and the monitor list is empty."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "ports_check.yaml").write_text(PLAYBOOK)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_PLAYBOOK_DIRS", str(playbooks))
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "false")
    monkeypatch.setenv("GRACE_DATA_DIR", str(tmp_path / ".grace"))
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    proc, port = listen()
    argv = ["execute", "ports_check", "--var", f"range={port}-{port}", "--var", f"port={port}"]
    argv += ["--json"]
    assert main(argv) == 0, capsys.readouterr().err
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "succeeded"
    outputs = {s["step"]: s["outputs"] for s in run["steps"]}
    assert outputs["scan"]["ports"] == [port]
    assert outputs["prune"]["monitor"] == [{"service": "api", "port": port}]
    assert read_monitor(tmp_path / ".grace") == [("api", port)]
    proc.kill()
    proc.wait(timeout=10)
    assert main(argv) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "succeeded"
    outputs = {s["step"]: s["outputs"] for s in run["steps"]}
    assert [(p["port"], p["verdict"]) for p in outputs["prune"]["pruned"]] == [(port, "dead_pid")]
    assert outputs["prune"]["monitor"] == []
    assert read_monitor(tmp_path / ".grace") == []
