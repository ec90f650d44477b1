"""``grace boot`` on the command line: exit codes, --json, --report, --service."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from grace.cli import main

pytestmark = pytest.mark.postgres


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_DATA_DIR", str(tmp_path / ".grace"))
    monkeypatch.setenv("GRACE_DATABASE_URL", database_url)
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("AUTO_SNAPSHOT_BEFORE_BOOT", raising=False)


def test_boot_report_and_json(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failing boot exits 1 and prints its table; --report prints it again; --json parses."""
    _env(monkeypatch, tmp_path, database_url)
    smoke = [
        {"name": "web", "argv": [sys.executable, "-c", "pass"], "service": "web"},
        {"name": "db", "argv": [sys.executable, "-c", "raise SystemExit(2)"], "service": "db"},
    ]
    (tmp_path / "grace.yaml").write_text(
        json.dumps({"boot": {"stages": [{"name": "smoke_tests", "commands": smoke}]}}),
        encoding="utf-8",
    )
    assert main(["boot"]) == 1
    out = capsys.readouterr().out
    assert "FAILED at stage smoke_tests" in out
    assert "preflight" in out
    assert main(["boot", "--report"]) == 0
    assert capsys.readouterr().out == (tmp_path / "logs" / "last_boot_report.txt").read_text()

    assert main(["boot", "--service", "web", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["service"] == "web"
    smoke_stage = next(s for s in data["stages"] if s["name"] == "smoke_tests")
    assert smoke_stage["details"] == ["web: exit 0 (ok)"]
    assert main(["boot", "--report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["boot_id"] == data["boot_id"]


def test_report_before_any_boot(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--report with no boot yet: exit 2 and a hint."""
    _env(monkeypatch, tmp_path, database_url)
    assert main(["boot", "--report"]) == 2
    err = capsys.readouterr().err
    assert "no boot report yet" in err
    assert "run 'grace boot' first" in err
