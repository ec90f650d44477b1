"""``grace boot`` end to end: real database, real commands, real files and SQLite databases."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grace.boot import BootReport
from grace.config import Settings

pytestmark = pytest.mark.postgres

HELLO = """
name: boot_hello
metadata: {risk_level: low, autonomy_tier: 3}
triggers: [{type: manual}]
steps:
  - name: say
    action: log
    with: {message: "booting {{ vars.service | default('all') }}"}
"""


def _statuses(report: BootReport) -> dict[str, str]:
    return {s.name: s.status for s in report.stages}


def test_all_stages_pass(
    make_settings: Callable[..., Settings],
    boot: Callable[..., BootReport],
    write_playbook: Callable[[str, str], Path],
    audit_entries: Callable[[Settings], list[dict[str, Any]]],
) -> None:
    """Every stage passes (the monitor warns: no grace serve); reports, record, audit written."""
    write_playbook("boot_hello", HELLO)
    settings = make_settings(
        boot={
            "required_secrets": ["BOOT_TEST_TOKEN"],
            "startup_playbooks": ["boot_hello"],
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [
                        {"name": "imports", "argv": [sys.executable, "-c", "import json"]}
                    ],
                }
            ],
        }
    )
    report = boot(settings, environ={"BOOT_TEST_TOKEN": "x"})
    assert report.ok, report.stages
    assert _statuses(report) == {
        "preflight": "passed",
        "schema_sync": "passed",
        "core_services": "skipped",
        "startup_playbooks": "passed",
        "codec_validation": "warning",  # the boot_fix_* playbooks are not loaded here
        "autonomy_load": "passed",
        "smoke_tests": "passed",
        "continuous_monitor": "warning",
    }
    assert report.playbooks_run[0]["playbook"] == "boot_hello"
    assert report.playbooks_run[0]["status"] == "succeeded"
    assert all(s.duration_s >= 0 for s in report.stages)
    text = (settings.log_dir / "last_boot_report.txt").read_text()
    assert f"Grace boot {report.boot_id}: OK" in text
    assert "smoke_tests" in text
    data = json.loads((settings.log_dir / "last_boot_report.json").read_text())
    assert data["boot_id"] == report.boot_id
    (record_path,) = (settings.data_dir / "training" / "startup_failures").glob("boot_*.json")
    record = json.loads(record_path.read_text())
    assert record["ok"] is True
    assert record["playbooks_run"][0]["playbook"] == "boot_hello"
    entries = audit_entries(settings)
    actions = [e["action"] for e in entries if e["action"].startswith("boot.")]
    assert actions == ["boot.started"] + ["boot.stage"] * 8 + ["boot.finished"]


def test_critical_failure_rolls_back_snapshot(
    make_settings: Callable[..., Settings],
    boot: Callable[..., BootReport],
    tmp_path: Path,
    audit_entries: Callable[[Settings], list[dict[str, Any]]],
) -> None:
    """A smoke test changes a config file and a SQLite db, then fails: both are restored."""
    config = tmp_path / "service.yaml"
    config.write_text("feature: on\n", encoding="utf-8")
    grace_yaml = tmp_path / "grace.yaml"
    grace_yaml.write_text("mode: observe\n", encoding="utf-8")
    db = tmp_path / "service.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE missions (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO missions (name) VALUES ('a'), ('b')")
    conn.close()
    before_config = config.read_bytes()
    mutate = textwrap.dedent(
        f"""
        import sqlite3, pathlib
        pathlib.Path({str(config)!r}).write_text("feature: off\\n")
        pathlib.Path({str(grace_yaml)!r}).write_text("mode: execute\\n")
        c = sqlite3.connect({str(db)!r})
        c.execute("DELETE FROM missions"); c.execute("INSERT INTO missions (name) VALUES ('z')")
        c.commit(); c.close()
        raise SystemExit("smoke: service answered 500")
        """
    )
    settings = make_settings(
        boot={
            "snapshot_files": [str(config)],
            "snapshot_databases": [str(db)],
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [{"name": "api", "argv": [sys.executable, "-c", mutate]}],
                }
            ],
        }
    )
    report = boot(settings, config_file=grace_yaml, environ={"AUTO_SNAPSHOT_BEFORE_BOOT": "1"})
    assert not report.ok
    assert report.failed_stage == "smoke_tests"
    assert _statuses(report)["continuous_monitor"] == "not_run"
    assert report.rolled_back
    assert report.snapshot_before
    assert report.snapshot_after
    assert config.read_bytes() == before_config
    assert grace_yaml.read_text() == "mode: observe\n"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, name FROM missions ORDER BY id").fetchall()
    conn.close()
    assert rows == [(1, "a"), (2, "b")]
    assert set(report.restored) == {str(config), str(grace_yaml), str(db)}
    text = (settings.log_dir / "last_boot_report.txt").read_text()
    assert "FAILED at stage smoke_tests" in text
    assert "smoke: service answered 500" in text
    for path in (config, grace_yaml, db):
        assert f"  {path}" in text
    rolled = [e for e in audit_entries(settings) if e["action"] == "boot.rolled_back"]
    assert rolled[0]["payload"]["failed_stage"] == "smoke_tests"
    assert rolled[0]["payload"]["snapshot"] == report.snapshot_before


def test_no_snapshot_no_rollback_and_unchanged_files_not_listed(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport], tmp_path: Path
) -> None:
    """Without the switch nothing is snapshotted; with it, an untouched file is not 'restored'."""
    failing = {
        "name": "smoke_tests",
        "commands": [{"name": "f", "argv": [sys.executable, "-c", "raise SystemExit(3)"]}],
    }
    untouched = tmp_path / "untouched.yaml"
    untouched.write_text("a: 1\n")
    settings = make_settings(boot={"snapshot_files": [str(untouched)], "stages": [failing]})
    report = boot(settings)
    assert not report.ok
    assert report.snapshot_before is None
    assert not report.rolled_back
    report = boot(settings, environ={"AUTO_SNAPSHOT_BEFORE_BOOT": "true"})
    assert report.rolled_back
    assert report.restored == []


def test_unreachable_database_fails_preflight(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport], tmp_path: Path
) -> None:
    """A database that cannot be opened fails the first gate; nothing else runs; not audited."""
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    settings = make_settings(database_url=f"sqlite:///{blocker}/grace.db")
    report = boot(settings)
    assert report.failed_stage == "preflight"
    assert "unreachable" in report.stages[0].summary
    assert {s.status for s in report.stages[1:]} == {"not_run"}
    assert report.audited is False
    assert (settings.log_dir / "last_boot_report.txt").is_file()


@pytest.mark.slow
def test_core_services_started_in_safe_mode(
    boot: Callable[..., BootReport],
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core_services stage runs its command with GRACE_SAFE_MODE=1 (here: 'grace services
    start api', a real supervised process), then finds the service running."""
    import psutil

    from grace.config import load_settings
    from grace.supervisor import read_state

    monkeypatch.chdir(tmp_path)
    env = {
        "GRACE_DATA_DIR": str(tmp_path / ".grace"),
        "GRACE_DATABASE_URL": database_url,
        "GRACE_LOG_DIR": str(tmp_path / "logs"),
        "GRACE_BUNDLED_PLAYBOOKS": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen = tmp_path / "safe_mode"
    service = f"import os, time; open({str(seen)!r}, 'w').write(os.environ.get('GRACE_SAFE_MODE', '')); time.sleep(60)"
    grace = [sys.executable, "-m", "grace"]
    config = {
        "services": [{"name": "api", "argv": [sys.executable, "-c", service], "log": False}],
        "boot": {
            "stages": [
                {
                    "name": "core_services",
                    "commands": [
                        {"name": "start_api", "argv": [*grace, "services", "start", "api"]}
                    ],
                }
            ]
        },
    }
    (tmp_path / "grace.yaml").write_text(json.dumps(config), encoding="utf-8")
    settings, _ = load_settings(tmp_path / "grace.yaml")
    try:
        report = boot(settings)
        stage = next(s for s in report.stages if s.name == "core_services")
        assert stage.status == "passed", stage
        assert stage.summary == "1 core service(s) running"
        assert "service api: running" in stage.details
        assert seen.read_text() == "1"  # the service inherited the safe-mode switch
    finally:
        state = read_state(settings.data_dir, "api")
        if state is not None and state.pid:
            with contextlib.suppress(psutil.Error):
                psutil.Process(state.pid).kill()


def test_core_service_down_fails_the_gate(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport]
) -> None:
    """A configured core service that is not running fails the critical stage; later stages
    do not run. A broken services: list fails the stage too, without crashing the boot."""
    settings = make_settings(services=[{"name": "api", "argv": ["true"]}])
    report = boot(settings)
    assert report.failed_stage == "core_services"
    assert report.stages[2].error == "service api is not running (never started)"
    assert [s.status for s in report.stages[3:]] == ["not_run"] * 5
    settings = make_settings(services=[{"name": "API!", "argv": ["true"]}])
    report = boot(settings)
    assert report.failed_stage == "core_services"
    assert "services[0].name" in report.stages[2].summary


def test_disabled_stage_is_skipped_and_the_store_still_opens(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport]
) -> None:
    """With schema_sync disabled, the first stage that needs the store opens it."""
    settings = make_settings(boot={"stages": [{"name": "schema_sync", "enabled": False}]})
    report = boot(settings)
    assert report.ok, report.stages
    statuses = _statuses(report)
    assert statuses["schema_sync"] == "skipped"
    assert statuses["autonomy_load"] == "passed"
    assert report.audited
