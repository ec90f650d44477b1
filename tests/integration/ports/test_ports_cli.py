"""``grace ports scan|list|claim|release|prune`` through ``grace.cli.main``, on both databases."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grace.cli import main

Listen = Callable[..., tuple[subprocess.Popen[str], int]]
"""The ``listen`` fixture (conftest.py): start a real listener, get it and its port."""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """Settings pointed at the tmp dir and the test's database; no playbooks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "false")
    monkeypatch.setenv("GRACE_DATA_DIR", str(tmp_path / ".grace"))
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("GRACE_DATABASE_URL", database_url)
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_claim_kill_prune(
    env: Path, listen: Listen, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's loop: scan finds the child, claim it for api, kill it, prune (dry run
    first), and the monitor list follows."""
    proc, port = listen()
    monkeypatch.setenv("GRACE_PORTS", json.dumps({"range": [port, port], "grace_s": 600}))
    report = _json(capsys, ["ports", "scan", "--json"])
    (found,) = report["listeners"]
    assert (found["port"], found["pid"]) == (port, proc.pid)
    assert "grace-port-test" in found["cmdline"]
    assert [r["source"] for r in report["registered"]] == ["observed"]

    assert main(["ports", "claim", str(port), "--service", "api", "--as", "ops"]) == 0
    assert f"port {port} claimed for api (pid {proc.pid})" in capsys.readouterr().out
    (row,) = _json(capsys, ["ports", "list", "--json"])
    assert (row["service"], row["source"], row["pid"]) == ("api", "claimed", proc.pid)
    assert row["claimed_by"] == "ops"

    assert main(["ports", "claim", str(port), "--service", "web"]) == 2
    err = capsys.readouterr().err
    assert f"port {port}/tcp is owned by 'api'" in err
    assert f"hint: release it first: grace ports release {port}" in err

    assert main(["ports", "scan"]) == 0
    out = capsys.readouterr().out
    assert "api (claimed)" in out
    assert json.loads((env / ".grace" / "ports" / "monitor.json").read_text())["monitor"] == [
        {"service": "api", "port": port}
    ]

    proc.kill()
    proc.wait(timeout=10)
    dry = _json(capsys, ["ports", "prune", "--dry-run", "--json"])
    assert [(p["port"], p["verdict"]) for p in dry["pruned"]] == [(port, "dead_pid")]
    assert len(_json(capsys, ["ports", "list", "--json"])) == 1  # nothing changed
    assert main(["ports", "prune"]) == 0
    out = capsys.readouterr().out
    assert f"pruned port {port} (api): owner pid {proc.pid} of api is gone" in out
    assert "monitor list: none" in out
    assert _json(capsys, ["ports", "list", "--json"]) == []
    assert main(["ports", "list"]) == 0
    assert "no ports registered" in capsys.readouterr().out


def test_release_and_usage_errors(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Release an unknown port: exit 1; a malformed --range: exit 2 with the fix."""
    assert main(["ports", "claim", "8009", "--service", "api", "--json"]) == 0
    claimed = json.loads(capsys.readouterr().out)
    assert (claimed["port"], claimed["service"], claimed["source"]) == (8009, "api", "claimed")
    assert main(["ports", "release", "8009"]) == 0
    assert "port 8009 released (was api, claimed)" in capsys.readouterr().out
    assert main(["ports", "release", "8009"]) == 1
    assert "port 8009 is not registered" in capsys.readouterr().out
    assert main(["ports", "scan", "--range", "9000-80"]) == 2
    err = capsys.readouterr().err
    assert "must satisfy 1 <= LOW <= HIGH <= 65535" in err
    assert "hint: e.g. --range 8000-8010" in err
