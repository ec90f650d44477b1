"""The eight built-in stages. Each checks one thing, for real, and says what it checked.

A stage returns a summary line (and appends detail lines), sets a ``warning`` by returning
:class:`Warn`, or raises :class:`StageFailure` with the error text the knowledge base classifies.
"""

from __future__ import annotations

import locale
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from grace.boot._checks import StageFailure, run_checks
from grace.boot._config import BootConfig, StageConfig
from grace.boot._report import BootReport

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.engine import Engine
    from grace.knowledge import KnowledgeBase

__all__ = ("STAGES", "BootContext", "Skip", "StageFn", "Warn")

MONITOR_FRESH_S = 10.0
"""A supervisor heartbeat younger than this means a ``grace serve`` is running."""


class Warn(str):
    """A summary that makes the stage a ``warning`` (passed, but look)."""


class Skip(str):
    """A summary that makes the stage ``skipped`` (nothing to check)."""


@dataclass
class BootContext:
    """What every stage can see."""

    settings: Settings
    boot: BootConfig
    service: str | None
    report: BootReport
    knowledge: KnowledgeBase
    environ: dict[str, str]
    engine: Engine | None = None
    details: list[str] = field(default_factory=list)
    """The running stage's detail lines (reset before each stage)."""
    open_engine: Callable[[], Engine] | None = None


StageFn = Callable[[BootContext, StageConfig], Awaitable[str]]


async def preflight(ctx: BootContext, stage: StageConfig) -> str:
    """The database answers, and its schema is one this Grace can run (at or behind head)."""
    from grace.store import create_db_engine
    from grace.store._database import HEAD_REVISION, current_revision

    settings = ctx.settings
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / f".boot_probe_{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        msg = f"data dir {settings.data_dir} is not writable: {exc}"
        raise StageFailure(msg) from exc
    ctx.details.append(f"data dir {settings.data_dir} writable")

    def read() -> str | None:
        db = create_db_engine(settings.effective_database_url)
        try:
            return current_revision(db)
        finally:
            db.dispose()

    url = _safe_url(settings.effective_database_url)
    try:
        revision = await anyio.to_thread.run_sync(read)
    except Exception as exc:
        msg = f"database {url} unreachable"
        raise StageFailure(msg, f"{type(exc).__name__}: {exc}") from exc
    ctx.details.append(f"database {url} reachable; schema revision {revision or 'none'}")
    if revision == HEAD_REVISION:
        return f"database reachable, schema at head ({HEAD_REVISION})"
    if revision is None:
        return f"database reachable, empty: schema_sync creates the schema ({HEAD_REVISION})"
    if revision.isdigit() and int(revision) < int(HEAD_REVISION):
        return f"database reachable, schema {revision} behind head {HEAD_REVISION}: schema_sync migrates"
    msg = f"schema revision {revision} is not one this Grace knows (head {HEAD_REVISION})"
    raise StageFailure(
        msg,
        f"database schema revision {revision!r} is newer than this Grace (head {HEAD_REVISION}): "
        "upgrade Grace or point it at the right database",
    )


async def schema_sync(ctx: BootContext, stage: StageConfig) -> str:
    """Migrations applied (the engine opens the store, migrating it), UTF-8, required secrets."""
    from grace.store._database import HEAD_REVISION, current_revision

    engine = await _engine(ctx)
    revision = await anyio.to_thread.run_sync(current_revision, engine.store.engine)
    if revision != HEAD_REVISION:
        msg = f"schema at {revision}, expected {HEAD_REVISION} after migrating"
        raise StageFailure(msg)
    ctx.details.append(f"migrations applied: schema at head ({HEAD_REVISION})")
    problems: list[str] = []
    encodings = {
        "filesystem encoding": sys.getfilesystemencoding(),
        "preferred encoding": locale.getpreferredencoding(False),
    }
    for what, encoding in encodings.items():
        ok = encoding.lower().replace("-", "").replace("_", "") == "utf8"
        ctx.details.append(f"{what}: {encoding}" + ("" if ok else " (not UTF-8)"))
        if not ok:
            problems.append(
                f"environment is not UTF-8: the {what} is {encoding!r} "
                "(set PYTHONUTF8=1 or a UTF-8 locale such as C.UTF-8)"
            )
    missing = [name for name in ctx.boot.required_secrets if not ctx.environ.get(name)]
    for name in ctx.boot.required_secrets:
        ctx.details.append(f"secret {name}: {'missing' if name in missing else 'set'}")
    problems += [f"environment variable {name} is not set" for name in missing]
    if problems:
        raise StageFailure("; ".join(p.split(":")[0] for p in problems), "\n".join(problems))
    secrets = len(ctx.boot.required_secrets)
    return f"schema at head, UTF-8 environment, {secrets} required secret(s) present"


async def core_services(ctx: BootContext, stage: StageConfig) -> str:
    """Safe-mode commands run (``GRACE_SAFE_MODE=1``), then each core service is running."""
    from grace.supervisor import parse_services

    commands = bool(stage.commands or stage.http)
    if commands:
        ctx.details += await run_checks(
            stage.commands, stage.http, service=ctx.service, env={"GRACE_SAFE_MODE": "1"}
        )
    configured = [c.name for c in parse_services(ctx.settings.services, where="services")]
    wanted = configured if ctx.boot.core_services is None else ctx.boot.core_services
    if ctx.service:
        wanted = [name for name in wanted if name == ctx.service]
    if not wanted:
        return "safe-mode commands passed" if commands else Skip("no core services configured")
    down: list[str] = []
    for name in wanted:
        if name not in configured:
            down.append(f"service {name} is not configured under 'services:'")
            continue
        status = _service_status(ctx.settings.data_dir, name)
        ctx.details.append(f"service {name}: {status}")
        if status != "running":
            down.append(f"service {name} is not running ({status})")
    if down:
        msg = f"{len(down)} core service(s) down"
        raise StageFailure(msg, "\n".join(down))
    return f"{len(wanted)} core service(s) running"


def _service_status(data_dir: Path, name: str) -> str:
    import psutil

    from grace.supervisor import read_state

    state = read_state(data_dir, name)
    if state is None:
        return "never started"
    if state.status != "running" or state.pid is None or state.create_time is None:
        return state.status
    try:
        proc = psutil.Process(state.pid)
        alive = abs(proc.create_time() - state.create_time) < 0.01
        alive = alive and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        alive = False
    return "running" if alive else "dead"


async def startup_playbooks(ctx: BootContext, stage: StageConfig) -> str:
    """Each configured playbook runs through the engine (the governor rules on each)."""
    from grace.engine import RunRefused, UnknownPlaybook
    from grace.runs import RunStatus

    names = ctx.boot.startup_playbooks
    if not names:
        return Skip("no startup playbooks configured")
    engine = await _engine(ctx)
    failed: list[str] = []
    for name in names:
        try:
            run = await engine.execute(
                name,
                vars={"service": ctx.service} if ctx.service else {},
                requested_by="grace.boot",
                trigger="boot",
            )
        except (UnknownPlaybook, RunRefused) as exc:
            failed.append(f"startup playbook {name}: {exc}")
            ctx.details.append(failed[-1])
            continue
        ctx.report.playbooks_run.append(
            {"stage": stage.name, "playbook": name, "run_id": run.id, "status": run.status.value}
        )
        ctx.details.append(f"{name}: run {run.id} {run.status.value}")
        if run.status is not RunStatus.SUCCEEDED:
            failed.append(
                f"startup playbook {name}: run {run.id} {run.status.value}: {run.error or ''}"
            )
    if failed:
        msg = f"{len(failed)} of {len(names)} startup playbook(s) failed"
        raise StageFailure(msg, "\n".join(failed))
    return f"{len(names)} startup playbook(s) succeeded"


async def codec_validation(ctx: BootContext, stage: StageConfig) -> str:
    """The playbook library loads without a fault (what ``grace validate`` checks)."""
    engine = await _engine(ctx)
    await anyio.to_thread.run_sync(engine.reload_playbooks)
    missing = sorted(
        {p.fix_playbook for p in ctx.knowledge.patterns if p.fix_playbook not in engine.playbooks}
    )
    if missing:
        ctx.details.append(f"fix playbooks not loaded: {', '.join(missing)}")
    if engine.playbook_errors:
        error = "\n".join(str(e) for e in engine.playbook_errors)
        msg = f"{len(engine.playbook_errors)} playbook file(s) invalid"
        raise StageFailure(msg, error)
    ctx.details.append(f"{len(engine.playbooks)} playbook(s) valid")
    summary = f"{len(engine.playbooks)} playbook(s) valid"
    return Warn(f"{summary}; {len(missing)} fix playbook(s) not loaded") if missing else summary


async def autonomy_load(ctx: BootContext, stage: StageConfig) -> str:
    """The governance policy, guards and change calendar load; the emergency stop is read."""
    from grace.governance import build_guards, matrix_rows

    engine = await _engine(ctx)
    settings = ctx.settings
    try:
        guards = build_guards(engine.store, settings.governance, calendar=engine.calendar)
        rows = matrix_rows(settings.governance.policy, mode=settings.mode)
    except (ValueError, TypeError) as exc:
        raise StageFailure("governance did not load", str(exc)) from exc
    window = engine.calendar.state(datetime.now(UTC))
    ctx.details.append(
        f"{len(guards)} guards; policy matrix ({len(rows)} risk levels) for mode {settings.mode}"
    )
    ctx.details.append(f"change window: {'open' if window.open else window.reason}")
    stop = await anyio.to_thread.run_sync(engine.store.emergency_stop)
    summary = f"mode {settings.mode}, {len(guards)} guards, policy matrix loaded"
    if stop:
        return Warn(f"{summary}; emergency stop in force (by {stop.get('by')}): nothing runs")
    return summary


async def smoke_tests(ctx: BootContext, stage: StageConfig) -> str:
    """Only the stage's configured commands and HTTP checks."""
    if not (stage.commands or stage.http):
        return Skip("no smoke checks configured")
    return ""  # the pipeline runs the checks and writes the summary


async def continuous_monitor(ctx: BootContext, stage: StageConfig) -> str:
    """Is something watching after the boot? A running ``grace serve`` pings the supervisor
    heartbeat; this stage reads how fresh it is (it does not start one)."""
    from grace.supervisor import supervisor_beat_age

    engine = await _engine(ctx)
    age = await anyio.to_thread.run_sync(supervisor_beat_age, engine.store)
    if age is not None and age < MONITOR_FRESH_S:
        return f"grace serve is running (supervisor heartbeat {age:.1f}s ago)"
    what = "never seen" if age is None else f"last seen {age:.0f}s ago"
    message = f"no grace serve is running (supervisor heartbeat {what}): nothing watches the services after this boot; start 'grace serve'"
    if ctx.boot.require_monitor:
        raise StageFailure("no grace serve running", message)
    return Warn(message)


async def checks_only(ctx: BootContext, stage: StageConfig) -> str:
    """A configured stage of checks."""
    if not (stage.commands or stage.http):
        return Skip("no checks configured")
    return ""


async def _engine(ctx: BootContext) -> Engine:
    """The engine, opened now when ``schema_sync`` is disabled (opening migrates the store)."""
    from grace.errors import GraceError

    if ctx.engine is None:
        assert ctx.open_engine is not None
        try:
            ctx.engine = await anyio.to_thread.run_sync(ctx.open_engine)
        except GraceError as exc:
            raise StageFailure("cannot open the store", str(exc)) from exc
    return ctx.engine


def _safe_url(url: str) -> str:
    """The URL with its password masked."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


STAGES: dict[str, StageFn] = {
    "preflight": preflight,
    "schema_sync": schema_sync,
    "core_services": core_services,
    "startup_playbooks": startup_playbooks,
    "codec_validation": codec_validation,
    "autonomy_load": autonomy_load,
    "smoke_tests": smoke_tests,
    "continuous_monitor": continuous_monitor,
    "checks": checks_only,
}
"""Stage kind → its function."""
