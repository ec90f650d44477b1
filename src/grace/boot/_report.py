"""What a boot did: stage results, fixes, the rollback; the text and JSON reports; training records."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = (
    "REPORT_JSON",
    "REPORT_TEXT",
    "BootReport",
    "FixRecord",
    "StageResult",
    "render_text",
    "write_atomic",
    "write_reports",
    "write_training_record",
)

REPORT_TEXT = "last_boot_report.txt"
REPORT_JSON = "last_boot_report.json"

StageStatus = Literal["passed", "warning", "failed", "skipped", "not_run"]


@dataclass(slots=True)
class FixRecord:
    """A known failure found in a stage's error, and what was done about it."""

    stage: str
    pattern: str
    fix_playbook: str
    outcome: str
    """``applied`` (ran), ``proposed``, ``awaiting_approval``, ``missing_playbook``,
    ``refused`` (the governor said no), ``disabled`` (boot.apply_fixes false)."""
    reason: str = ""
    run_id: str | None = None
    run_status: str | None = None
    verified: bool | None = None
    """After an applied fix: did the stage pass when re-run?"""
    captures: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StageResult:
    """One stage's verdict."""

    name: str
    kind: str
    critical: bool
    status: StageStatus = "not_run"
    duration_s: float = 0.0
    summary: str = ""
    """One line for the table."""
    error: str = ""
    """The failure text (what the knowledge base classified)."""
    details: list[str] = field(default_factory=list)
    """What was checked, one line each."""
    patterns: list[str] = field(default_factory=list)
    """Known failures found in ``error``."""


@dataclass(slots=True)
class BootReport:
    """The whole boot."""

    boot_id: str
    started_at: str
    service: str | None
    mode: str
    finished_at: str = ""
    ok: bool = False
    failed_stage: str | None = None
    stages: list[StageResult] = field(default_factory=list)
    fixes: list[FixRecord] = field(default_factory=list)
    playbooks_run: list[dict[str, Any]] = field(default_factory=list)
    snapshot_before: str | None = None
    snapshot_after: str | None = None
    rolled_back: bool = False
    restored: list[str] = field(default_factory=list)
    audited: bool = False
    """False when the database could not be reached (nothing could be written to the audit log)."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the ``--json`` output and ``last_boot_report.json``)."""
        return asdict(self)

    def training_record(self) -> dict[str, Any]:
        """The training record: patterns seen, playbooks run, fixes, results, snapshot ids."""
        return {
            "boot_id": self.boot_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "service": self.service,
            "mode": self.mode,
            "ok": self.ok,
            "failed_stage": self.failed_stage,
            "patterns_seen": sorted({f.pattern for f in self.fixes}),
            "playbooks_run": self.playbooks_run,
            "fixes": [asdict(f) for f in self.fixes],
            "stages": [
                {"name": s.name, "status": s.status, "duration_s": s.duration_s, "error": s.error}
                for s in self.stages
            ],
            "snapshot_before": self.snapshot_before,
            "snapshot_after": self.snapshot_after,
            "rolled_back": self.rolled_back,
            "restored": self.restored,
        }


def render_text(report: BootReport) -> str:
    """The human report: a header, the stage table, fixes, the rollback."""
    verdict = "OK" if report.ok else f"FAILED at stage {report.failed_stage}"
    lines = [
        f"Grace boot {report.boot_id}: {verdict}",
        f"started {report.started_at}  finished {report.finished_at}  mode {report.mode}"
        + (f"  service {report.service}" if report.service else ""),
        "",
        f"{'#':>2}  {'stage':<20} {'critical':<8} {'verdict':<8} {'duration':>9}  summary",
    ]
    for index, stage in enumerate(report.stages, 1):
        lines.append(
            f"{index:>2}  {stage.name:<20} {'yes' if stage.critical else 'no':<8} "
            f"{stage.status:<8} {stage.duration_s * 1000:>7.0f}ms  {stage.summary}"
        )
    for stage in report.stages:
        if stage.status in ("failed", "warning") and stage.error:
            lines += ["", f"{stage.name} {stage.status}:"]
            lines += [f"  {line}" for line in stage.error.strip().splitlines()[-15:]]
    if report.fixes:
        lines += ["", "known failures and fixes:"]
        for fix in report.fixes:
            run = f" run {fix.run_id} ({fix.run_status})" if fix.run_id else ""
            verified = {True: ", verified", False: ", not verified", None: ""}[fix.verified]
            why = f": {fix.reason}" if fix.reason else ""
            lines.append(
                f"  [{fix.stage}] {fix.pattern} → {fix.fix_playbook}: {fix.outcome}{run}{verified}{why}"
            )
    if report.snapshot_before:
        lines += ["", f"pre-boot snapshot: {report.snapshot_before}"]
    if report.rolled_back:
        lines.append(f"rolled back to {report.snapshot_before}; restored:")
        lines += [f"  {path}" for path in report.restored] or ["  (nothing had changed)"]
    elif not report.ok and report.failed_stage:
        lines.append("not rolled back: no pre-boot snapshot was taken")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: BootReport, log_dir: Path) -> tuple[Path, Path]:
    """Write ``last_boot_report.txt`` and ``.json`` in ``log_dir``."""
    text_path, json_path = log_dir / REPORT_TEXT, log_dir / REPORT_JSON
    write_atomic(text_path, render_text(report))
    write_atomic(json_path, json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    return text_path, json_path


def write_training_record(report: BootReport, folder: Path, stamp: str) -> Path:
    """Append ``boot_<stamp>.json`` to ``folder`` (never overwriting: ``_2``, ``_3``… on a clash)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps(report.training_record(), indent=2, default=str) + "\n"
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"_{attempt}"
        path = folder / f"boot_{stamp}{suffix}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        return path
    msg = f"too many boot records named boot_{stamp}*.json in {folder}"
    raise FileExistsError(msg)
