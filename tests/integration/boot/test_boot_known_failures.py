"""A boot hitting each of the seven known startup failures, each raised for real by a smoke
command: the matching fix playbook is applied (execute mode) or proposed (observe mode), and
recorded in the report, the training record and the per-pattern success rates."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grace.boot import BootReport
from grace.config import Settings

pytestmark = pytest.mark.postgres

PATTERNS = [
    "unicode_logging_crash",
    "schema_mismatch",
    "playbook_missing_risk_fields",
    "circular_import",
    "database_locked",
    "unawaited_coroutine",
    "missing_env_secret",
]


def _faults(folder: Path) -> list[dict[str, Any]]:
    """One smoke command per known failure; each really raises it (stderr carries the text)."""
    (folder / "app_models.py").write_text("from app_missions import Mission\nclass Base: ...\n")
    (folder / "app_missions.py").write_text("from app_models import Base\nclass Mission: ...\n")
    (folder / "playbook.json").write_text(json.dumps({"name": "old", "metadata": {"owner": "x"}}))
    db = folder / "missions.db"
    code = {
        "unicode_logging_crash": """
            import io, logging, sys
            stream = io.TextIOWrapper(sys.stdout.buffer, encoding="cp1252")
            log = logging.getLogger("guardian")
            log.addHandler(logging.StreamHandler(stream))
            log.error("\\u2705 guardian started")
            stream.flush()
            sys.exit(1)
            """,
        "schema_mismatch": f"""
            import sqlite3
            c = sqlite3.connect({str(db)!r})
            c.execute("CREATE TABLE IF NOT EXISTS missions (id INTEGER PRIMARY KEY)")
            c.execute("SELECT id, priority FROM missions")
            """,
        "playbook_missing_risk_fields": """
            import json
            playbook = json.load(open("playbook.json"))
            risk = playbook["metadata"]["risk_level"]
            """,
        "circular_import": "import app_models",
        "database_locked": f"""
            import sqlite3
            holder = sqlite3.connect({str(folder / "locked.db")!r}, isolation_level=None)
            holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
            holder.execute("BEGIN IMMEDIATE")
            writer = sqlite3.connect({str(folder / "locked.db")!r}, timeout=0)
            writer.execute("INSERT INTO t VALUES (1)")
            """,
        "unawaited_coroutine": """
            import sys
            async def start(): ...
            start()
            sys.exit(1)
            """,
        "missing_env_secret": """
            import os
            token = os.environ["GRACE_BOOT_TEST_GITHUB_TOKEN"]
            """,
    }
    return [
        {
            "name": name,
            "argv": [sys.executable, "-c", textwrap.dedent(code[name])],
            "cwd": str(folder),
            "timeout_s": 20,
        }
        for name in PATTERNS
    ]


@pytest.fixture
def faulty(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Settings]:
    """Settings whose smoke stage runs the seven faults, with the bundled fix playbooks loaded."""
    monkeypatch.delenv("GRACE_BOOT_TEST_GITHUB_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "app"
    work.mkdir()

    def make(mode: str) -> Settings:
        return make_settings(
            mode=mode,
            bundled_playbooks=True,
            boot={"stages": [{"name": "smoke_tests", "commands": _faults(work)}]},
        )

    return make


def _by_pattern(report: BootReport) -> dict[str, Any]:
    return {f.pattern: f for f in report.fixes}


def test_observe_mode_proposes_each_fix(
    faulty: Callable[[str], Settings], boot: Callable[..., BootReport]
) -> None:
    """Observe mode: each of the seven is recognised and its fix playbook proposed (not run)."""
    settings = faulty("observe")
    report = boot(settings)
    smoke = next(s for s in report.stages if s.name == "smoke_tests")
    assert smoke.status == "failed"
    assert sorted(smoke.patterns) == sorted(PATTERNS)
    fixes = _by_pattern(report)
    assert sorted(fixes) == sorted(PATTERNS)
    for pattern in PATTERNS:
        fix = fixes[pattern]
        assert fix.outcome == "proposed", (pattern, fix)
        assert fix.run_status == "proposed"
        assert fix.fix_playbook.startswith("boot_fix_")
    assert fixes["missing_env_secret"].captures == {"key": "GRACE_BOOT_TEST_GITHUB_TOKEN"}
    assert fixes["circular_import"].captures["module"] == "app_models"
    text = (settings.log_dir / "last_boot_report.txt").read_text()
    for pattern in PATTERNS:
        assert f"{pattern} → boot_fix_" in text
    (record,) = (settings.data_dir / "training" / "startup_failures").glob("boot_*.json")
    data = json.loads(record.read_text())
    assert sorted(data["patterns_seen"]) == sorted(PATTERNS)
    stats = json.loads(
        (settings.data_dir / "knowledge" / "startup_failures_stats.json").read_text()
    )
    assert stats["database_locked"]["proposed"] == 1
    assert stats["database_locked"]["success_rate"] is None


def test_execute_mode_applies_each_fix(
    faulty: Callable[[str], Settings], boot: Callable[..., BootReport]
) -> None:
    """Execute mode: each fix playbook runs through the governor and succeeds; the stage is
    re-run to verify (the faults are permanent here, so none is verified)."""
    settings = faulty("execute")
    report = boot(settings)
    fixes = _by_pattern(report)
    assert sorted(fixes) == sorted(PATTERNS)
    for pattern in PATTERNS:
        fix = fixes[pattern]
        assert fix.outcome == "applied", (pattern, fix)
        assert fix.run_status == "succeeded", (pattern, fix)
        assert fix.verified is False
    unicode_run = fixes["unicode_logging_crash"].run_id
    assert unicode_run is not None
    assert {r["playbook"] for r in report.playbooks_run} == {f.fix_playbook for f in report.fixes}
    stats = json.loads(
        (settings.data_dir / "knowledge" / "startup_failures_stats.json").read_text()
    )
    assert stats["circular_import"]["applied"] == 1
    assert stats["circular_import"]["success_rate"] == 0.0


def test_site_fix_repairs_and_is_verified(
    make_settings: Callable[..., Settings],
    boot: Callable[..., BootReport],
    write_playbook: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    """A site's own boot_fix_database_locked really releases the 'lock'; the re-run passes, the
    fix is verified, the boot succeeds, and the pattern's success rate is 1.0."""
    released = tmp_path / "released"
    write_playbook(
        "boot_fix_database_locked",
        f"""
        name: boot_fix_database_locked
        metadata: {{risk_level: low, autonomy_tier: 3, auto_trigger: true}}
        triggers: [{{type: manual}}]
        steps:
          - name: release
            action: file.write
            with: {{path: "{released}", content: "ok"}}
        """,
    )
    probe = (
        "import pathlib, sys\n"
        f"if not pathlib.Path({str(released)!r}).exists():\n"
        "    sys.exit('sqlite3.OperationalError: database is locked')\n"
    )
    settings = make_settings(
        mode="execute",
        boot={
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [{"name": "db", "argv": [sys.executable, "-c", probe]}],
                }
            ]
        },
    )
    report = boot(settings)
    assert report.ok, report.stages
    (fix,) = report.fixes
    assert (fix.pattern, fix.outcome, fix.run_status, fix.verified) == (
        "database_locked",
        "applied",
        "succeeded",
        True,
    )
    smoke = next(s for s in report.stages if s.name == "smoke_tests")
    assert smoke.status == "passed"
    assert smoke.summary.startswith("passed after fix (boot_fix_database_locked)")
    stats = json.loads(
        (settings.data_dir / "knowledge" / "startup_failures_stats.json").read_text()
    )
    assert stats["database_locked"]["success_rate"] == 1.0


def test_missing_fix_playbook_is_reported(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport]
) -> None:
    """A known failure whose fix playbook is not loaded is recorded as missing; nothing crashes."""
    code = "raise RuntimeError('environment variable GRACE_BOOT_TEST_KEY is not set')"
    settings = make_settings(
        mode="execute",
        boot={
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [{"name": "env", "argv": [sys.executable, "-c", code]}],
                }
            ]
        },
    )
    report = boot(settings)
    assert report.failed_stage == "smoke_tests"
    (fix,) = report.fixes
    assert fix.pattern == "missing_env_secret"
    assert fix.outcome == "missing_playbook"
    assert "boot_fix_missing_secret" in fix.reason
    assert fix.captures == {"variable": "GRACE_BOOT_TEST_KEY"}


def test_a_missing_module_at_boot_proposes_missing_module_recovery(
    make_settings: Callable[..., Settings], boot: Callable[..., BootReport]
) -> None:
    """Beyond the seeds' seven: a smoke command whose import really fails is recognised as
    ``missing_module`` with the module captured, and the bundled ``missing_module_recovery``
    is proposed with it (observe mode)."""
    settings = make_settings(
        mode="observe",
        bundled_playbooks=True,
        boot={
            "stages": [
                {
                    "name": "smoke_tests",
                    "commands": [
                        {
                            "name": "imports",
                            "argv": [sys.executable, "-c", "import grace_no_such_mod"],
                        }
                    ],
                }
            ]
        },
    )
    report = boot(settings)
    (fix,) = report.fixes
    assert (fix.pattern, fix.fix_playbook, fix.outcome) == (
        "missing_module",
        "missing_module_recovery",
        "proposed",
    )
    assert fix.captures == {"module": "grace_no_such_mod"}
