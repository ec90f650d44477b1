"""``grace boot``: the stages in order, a critical failure gating the rest; known failures
classified and fixed (or proposed) through the engine; the pre-boot snapshot restored when a
critical stage fails; reports, a training record and the audit trail written at the end.
"""

from __future__ import annotations

import os
import secrets
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grace.boot._checks import StageFailure, run_checks
from grace.boot._config import StageConfig
from grace.boot._report import (
    BootReport,
    FixRecord,
    StageResult,
    write_reports,
    write_training_record,
)
from grace.boot._snapshot import Snapshot, SnapshotError, restore_snapshot, take_snapshot
from grace.boot._stages import STAGES, BootContext, Skip, Warn
from grace.errors import GraceError
from grace.logs import get_logger

if TYPE_CHECKING:
    from grace.audit import AuditDraft
    from grace.config import Settings
    from grace.engine import Engine
    from grace.knowledge import PatternMatch

__all__ = ("ACTOR", "SNAPSHOT_ENV", "run_boot", "snapshot_wanted", "training_dir")

log = get_logger("boot")

ACTOR = "grace.boot"
"""Who boot's audit entries and runs are recorded as."""
SNAPSHOT_ENV = "AUTO_SNAPSHOT_BEFORE_BOOT"
_TRUE = {"1", "true", "yes", "on"}


def training_dir(settings: Settings) -> Path:
    """``<data_dir>/training/startup_failures``: one JSON record per boot."""
    return settings.data_dir / "training" / "startup_failures"


def stats_file(settings: Settings) -> Path:
    """The per-pattern success rates, rebuilt from the training records after each boot."""
    return settings.data_dir / "knowledge" / "startup_failures_stats.json"


def snapshot_wanted(settings: Settings, environ: Mapping[str, str]) -> bool:
    """``boot.snapshot`` or ``AUTO_SNAPSHOT_BEFORE_BOOT`` truthy."""
    flag = environ.get(SNAPSHOT_ENV, "").strip().lower() in _TRUE
    return settings.boot.snapshot or flag


async def run_boot(
    settings: Settings,
    *,
    service: str | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> BootReport:
    """Boot: run every stage, fix or propose known failures, roll back a critical failure.

    Args:
        settings: the effective settings (``settings.boot`` configures the stages).
        service: only this service's core-service check and checks; passed to playbooks.
        config_file: the grace.yaml in use, snapshotted with the other config files.
        environ: the environment checked for secrets and the snapshot switch (default
            ``os.environ``).

    Raises:
        KnowledgeBaseError: the configured knowledge base file is invalid (before anything runs).
        SnapshotError: the pre-boot snapshot was asked for and could not be taken (nothing ran).
    """
    from grace.knowledge import load_knowledge

    env = dict(os.environ if environ is None else environ)
    knowledge = load_knowledge(settings.boot.knowledge_file)
    now = datetime.now(UTC)
    report = BootReport(
        boot_id=f"boot_{now:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}",
        started_at=now.isoformat(),
        service=service,
        mode=settings.mode,
    )
    ctx = BootContext(
        settings=settings,
        boot=settings.boot,
        service=service,
        report=report,
        knowledge=knowledge,
        environ=env,
        open_engine=lambda: _open_engine(settings),
    )
    audit = _Auditor(ctx)
    stages = settings.boot.resolved_stages()
    audit.add(
        "boot.started",
        service=service,
        mode=settings.mode,
        stages=[s.name for s in stages],
        started_at=report.started_at,
    )
    before: Snapshot | None = None
    if snapshot_wanted(settings, env):
        before = _snapshot(settings, config_file, now, "before")
        report.snapshot_before = before.id
    try:
        gate_closed = False
        for stage in stages:
            result = StageResult(stage.name, stage.kind or "checks", bool(stage.critical))
            report.stages.append(result)
            if not stage.enabled:
                result.status, result.summary = "skipped", "disabled in boot.stages"
            elif gate_closed:
                result.summary = f"not run: critical stage {report.failed_stage} failed"
            else:
                await _run_stage(ctx, stage, result)
                if result.status == "failed" and stage.critical:
                    gate_closed = True
                    report.failed_stage = stage.name
            audit.add("boot.stage", **_stage_payload(result))
        report.ok = not gate_closed
        if not report.ok and before is not None:
            after = _after_snapshot(settings, config_file, report)
            report.restored, errors = restore_snapshot(before)
            report.rolled_back = True
            report.notes += [f"could not restore {error}" for error in errors]
            audit.add(
                "boot.rolled_back",
                failed_stage=report.failed_stage,
                snapshot=before.id,
                restored=report.restored,
                errors=errors,
                state_at_failure=after,
            )
        elif before is not None:
            _after_snapshot(settings, config_file, report)
        report.finished_at = datetime.now(UTC).isoformat()
        audit.add(
            "boot.finished",
            ok=report.ok,
            failed_stage=report.failed_stage,
            rolled_back=report.rolled_back,
            patterns=sorted({f.pattern for f in report.fixes}),
            snapshot_before=report.snapshot_before,
            snapshot_after=report.snapshot_after,
        )
        report.audited = audit.flush()
        if not report.audited:
            report.notes.append("the audit log could not be written: the store never opened")
        _write_records(settings, report, now)
    finally:
        if ctx.engine is not None:
            ctx.engine.close()
    return report


def _open_engine(settings: Settings) -> Engine:
    from grace.engine import Engine

    return Engine(settings)


def _snapshot(settings: Settings, config_file: Path | None, now: datetime, label: str) -> Snapshot:
    files = list(settings.boot.snapshot_files)
    if config_file is not None and Path(config_file).is_file():
        files.insert(0, Path(config_file))
    return take_snapshot(
        settings.data_dir / "snapshots",
        files=files,
        databases=list(settings.boot.snapshot_databases),
        now=now,
        label=label,
    )


def _after_snapshot(settings: Settings, config_file: Path | None, report: BootReport) -> str | None:
    """The state the boot left (before any rollback), for comparison; a failure is only noted."""
    try:
        snapshot = _snapshot(settings, config_file, datetime.now(UTC), "after")
    except SnapshotError as exc:
        report.notes.append(f"no after-boot snapshot: {exc}")
        return None
    report.snapshot_after = snapshot.id
    return snapshot.id


async def _run_stage(ctx: BootContext, stage: StageConfig, result: StageResult) -> None:
    """Run a stage; on failure classify it, fix or propose, and re-run it once after a fix."""
    await _attempt(ctx, stage, result)
    if result.status != "failed":
        return
    matches = ctx.knowledge.classify(result.error)
    result.patterns = [m.id for m in matches]
    fixes = [await _fix(ctx, stage, result, match) for match in matches]
    ctx.report.fixes.extend(fixes)
    applied = [f for f in fixes if f.outcome == "applied" and f.run_status == "succeeded"]
    for fix in fixes:
        if fix.outcome == "applied" and fix.run_status != "succeeded":
            fix.verified = False
    if not applied:
        return
    first_error = result.error
    await _attempt(ctx, stage, result)
    for fix in applied:
        fix.verified = result.status != "failed"
    if result.status != "failed":
        names = ", ".join(f.fix_playbook for f in applied)
        result.summary = f"passed after fix ({names}): {result.summary}"
        result.error = first_error
    else:
        result.details.append("the stage still fails after the fix")


async def _attempt(ctx: BootContext, stage: StageConfig, result: StageResult) -> None:
    ctx.details = []
    began = time.perf_counter()
    try:
        summary = await STAGES[stage.kind or "checks"](ctx, stage)
        has_checks = bool(stage.commands or stage.http)
        if has_checks and not isinstance(summary, Skip) and stage.kind != "core_services":
            ctx.details += await run_checks(stage.commands, stage.http, service=ctx.service)
            summary = summary or f"{len(stage.commands) + len(stage.http)} check(s) passed"
        result.status = (
            "skipped"
            if isinstance(summary, Skip)
            else "warning"
            if isinstance(summary, Warn)
            else "passed"
        )
        result.summary, result.error = str(summary), ""
    except StageFailure as exc:
        result.status, result.summary, result.error = "failed", exc.summary, exc.error
    except GraceError as exc:  # a bad setting met by the stage (services:, a playbook…)
        result.status, result.summary = "failed", str(exc).splitlines()[0]
        result.error = str(exc) + (f"\nhint: {exc.hint}" if exc.hint else "")
    except Exception as exc:  # noqa: BLE001 - a stage that breaks fails (and is rolled back), never the boot
        result.status, result.summary = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
        result.error = "".join(traceback.format_exception(exc))
    result.duration_s = round(result.duration_s + time.perf_counter() - began, 4)
    result.details += ctx.details
    log.info(
        f"boot stage {stage.name}: {result.status}: {result.summary}",
        event_type="boot.stage",
        stage=stage.name,
        status=result.status,
    )


async def _fix(
    ctx: BootContext, stage: StageConfig, result: StageResult, match: PatternMatch
) -> FixRecord:
    """Run (execute mode) or propose (observe mode) the pattern's fix, as the governor rules."""
    from grace.engine import RunRefused
    from grace.events import Event
    from grace.runs import RunStatus

    pattern = match.pattern
    record = FixRecord(
        stage=stage.name,
        pattern=pattern.id,
        fix_playbook=pattern.fix_playbook,
        outcome="not_run",
        captures=dict(match.captures),
    )
    if not ctx.boot.apply_fixes:
        record.outcome, record.reason = "disabled", "boot.apply_fixes is false"
        return record
    engine = ctx.engine
    if engine is None:
        record.reason = "the store is not open, so no playbook can run"
        return record
    if pattern.fix_playbook not in engine.playbooks:
        record.outcome = "missing_playbook"
        record.reason = f"no playbook named {pattern.fix_playbook!r} is loaded"
        return record
    event = Event(
        id=engine.ids.new("evt"),
        time=engine.clock.now(),
        source=f"boot:{ctx.report.boot_id}",
        kind="log",
        service=ctx.service or "",
        severity="error",
        message=match.excerpt or result.summary,
        attributes={"boot_id": ctx.report.boot_id, "stage": stage.name, "pattern": pattern.id},
    )
    variables: dict[str, Any] = {
        **match.captures,
        "pattern": pattern.id,
        "stage": stage.name,
        "boot_id": ctx.report.boot_id,
        "error": result.error[-4000:],
        "service": ctx.service or "",
    }
    try:
        run = await engine.execute(
            pattern.fix_playbook, vars=variables, event=event, requested_by=ACTOR, trigger="event"
        )
    except RunRefused as exc:
        record.outcome, record.reason = "refused", str(exc)
        return record
    record.run_id, record.run_status = run.id, run.status.value
    if run.status is RunStatus.PROPOSED:
        record.outcome, record.reason = "proposed", "observe mode: an operator approves it"
    elif run.status in (RunStatus.AWAITING_APPROVAL, RunStatus.BLOCKED_CHANGE_WINDOW):
        record.outcome, record.reason = "awaiting_approval", f"run is {run.status.value}"
    else:
        record.outcome = "applied"
        record.reason = run.error or ""
        ctx.report.playbooks_run.append(
            {
                "stage": stage.name,
                "playbook": pattern.fix_playbook,
                "run_id": run.id,
                "status": run.status.value,
                "pattern": pattern.id,
            }
        )
    return record


def _stage_payload(result: StageResult) -> dict[str, Any]:
    return {
        "stage": result.name,
        "status": result.status,
        "critical": result.critical,
        "duration_s": result.duration_s,
        "summary": result.summary,
        "patterns": result.patterns,
    }


class _Auditor:
    """Audit drafts for this boot; held until the store is open, then appended in order."""

    def __init__(self, ctx: BootContext) -> None:
        self.ctx = ctx
        self.pending: list[AuditDraft] = []

    def add(self, action: str, **payload: Any) -> None:
        from grace.audit import AuditDraft

        payload = {"boot_id": self.ctx.report.boot_id, **payload}
        self.pending.append(AuditDraft(ACTOR, action, self.ctx.report.boot_id, payload))
        self.flush()

    def flush(self) -> bool:
        """Append what is pending; False while the store is not open."""
        engine = self.ctx.engine
        if engine is None:
            return False
        if self.pending:
            engine.store.append_audit(list(self.pending))
            self.pending.clear()
        return True


def _write_records(settings: Settings, report: BootReport, now: datetime) -> None:
    from grace.knowledge import pattern_stats, write_stats

    write_reports(report, settings.log_dir)
    folder = training_dir(settings)
    write_training_record(report, folder, f"{now:%Y%m%d_%H%M%S}")
    write_stats(stats_file(settings), pattern_stats(folder))
