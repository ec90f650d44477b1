"""The composition root: settings → store, audit log, actions, playbooks, runner.

Built once at an entry point (CLI, API, tests) and passed down. Nothing else wires things.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import partial
from typing import Any

import anyio

from grace.actions import ActionRegistry, default_registry
from grace.audit import AuditDraft, AuditLog
from grace.config import Settings
from grace.errors import GraceError, PlaybookError, RunError
from grace.events import Event
from grace.governance import (
    ChangeCalendar,
    Decision,
    Governor,
    GuardInput,
    build_guards,
    context_flags,
)
from grace.logs import get_logger
from grace.playbooks import Playbook, load_library
from grace.runner import Plan, Recovery, Runner, RunnerConfig, decide, find_orphans, plan_run
from grace.runs import Run, RunStatus
from grace.store import Store, open_store
from grace.types import Clock, IdFactory, RandomIds, SystemClock

__all__ = (
    "MAX_PLAYBOOK_DEPTH",
    "Engine",
    "RunRefused",
    "UnknownPlaybook",
    "build_plan",
    "plan_offline",
)

log = get_logger("engine")

MAX_PLAYBOOK_DEPTH = 5
"""``playbook.run`` may nest this deep; deeper is refused (no unbounded loops)."""


class UnknownPlaybook(GraceError, LookupError):
    """No loaded playbook has this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        super().__init__(f"no playbook named {name!r}")
        self.hint = (
            f"did you mean '{close[0]}'?" if close else "list them with 'grace playbooks list'"
        )


class RunRefused(RunError):
    """The governor refused a requested run (emergency stop, policy refuses…)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.playbook}: {decision.kind.value}: {decision.reason}")
        self.decision = decision
        self.hint = decision.hint or None


class Engine:
    """Grace's engine for one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        registry: ActionRegistry | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.ids: IdFactory = ids or RandomIds(self.clock)
        self.registry = registry or default_registry(index_dir=settings.data_dir / "cache")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(
            settings.effective_database_url, clock=self.clock, ids=self.ids
        )
        self.audit = AuditLog(
            self.store.engine,
            data_dir=settings.data_dir,
            mirror_path=settings.log_dir / "immutable_audit.jsonl",
            checkpoint_every=settings.checkpoint_every,
            clock=self.clock,
        )
        self.store.add_audit_listener(self.audit.committed)
        self.playbooks: dict[str, Playbook] = {}
        self.playbook_errors: list[PlaybookError] = []
        self.reload_playbooks()
        self.calendar = ChangeCalendar(settings.governance.change_windows)
        self.governor = Governor(
            build_guards(self.store, settings.governance, calendar=self.calendar)
        )
        self.runner = Runner(
            store=self.store,
            registry=self.registry,
            playbooks=self.playbook,
            clock=self.clock,
            config=RunnerConfig(
                run_timeout_s=settings.run_timeout_min * 60,
                data_dir=settings.data_dir,
                backup_keep=settings.backup_keep,
                config=settings.config,
                database_url=settings.effective_database_url,
            ),
            tickets=self.store,
            launcher=self,
            flags=lambda now: context_flags(self.calendar, now),
        )

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Sign a final audit checkpoint and release the database."""
        try:
            self.audit.checkpoint()
        finally:
            self.audit.close()
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- playbooks --------------------------------------------------------------------------

    def load_playbooks(self) -> tuple[dict[str, Playbook], list[PlaybookError]]:
        """Read the bundled library and the configured folders (the engine's own view is not
        touched); each rejected file is logged."""
        loaded, errors = load_library(
            self.settings.playbook_dirs,
            registry=self.registry,
            include_bundled=self.settings.bundled_playbooks,
            cache_dir=self.settings.data_dir / "cache" / "playbooks",
        )
        for err in errors:
            log.warning(f"playbook rejected: {err}", event_type="playbook.rejected")
        return loaded, errors

    def reload_playbooks(self) -> None:
        """(Re)load the bundled library and the configured folders; bad files are kept aside."""
        self.playbooks, self.playbook_errors = self.load_playbooks()

    def playbook(self, name: str) -> Playbook:
        """The loaded playbook called ``name``.

        Raises:
            UnknownPlaybook: with a did-you-mean hint.
        """
        try:
            return self.playbooks[name]
        except KeyError:
            raise UnknownPlaybook(name, sorted(self.playbooks)) from None

    # -- runs -------------------------------------------------------------------------------

    def new_run(
        self,
        name: str,
        *,
        vars: Mapping[str, Any] | None = None,
        event: Event | None = None,
        captures: Mapping[str, Any] | None = None,
        trigger: str = "manual",
        requested_by: str = "cli",
        dry_run: bool = False,
        parent_run_id: str | None = None,
        status: RunStatus | None = None,
        idempotency_key: str | None = None,
        override_window: bool = False,
    ) -> Run:
        """Create a run of playbook ``name``, as the governor rules.

        A person's request is governed too: the policy matrix may ask for approval (the
        requester cannot give it), the change window may block it, the emergency stop refuses
        it. ``status`` skips the governor (tests and internal callers that already decided).
        The same ``idempotency_key`` returns the run it created the first time.

        Raises:
            RunRefused: the governor said no (the decision is recorded in the audit log).
        """
        playbook = self.playbook(name)
        if idempotency_key is not None:
            earlier = self.store.run_for_idempotency_key(idempotency_key)
            if earlier is not None:
                if earlier.playbook != playbook.name or earlier.vars != dict(vars or {}):
                    msg = (
                        f"idempotency key {idempotency_key!r} was used for run {earlier.id} "
                        f"of {earlier.playbook} with other parameters"
                    )
                    err = RunError(msg)
                    err.hint = "use a new key for a different request"
                    raise err
                return earlier
        now = self.clock.now()
        service = (event.service if event else "") or str((vars or {}).get("service", ""))
        decision: Decision | None = None
        if status is None:
            decision = self.govern_request(
                playbook,
                event=event,
                service=service,
                trigger=trigger,
                requested_by=requested_by,
                override_window=override_window,
                captures=captures,
                vars=vars,
            )
            if decision.run_status is None:
                draft = decision.audit_draft(
                    requested_by,
                    playbook.name,
                    trigger=trigger,
                    override_window=override_window,
                )
                self.store.append_audit([draft])
                raise RunRefused(decision)
            status = decision.run_status
        run = Run(
            id=self.ids.new("run"),
            playbook=playbook.name,
            playbook_version=playbook.version,
            status=status,
            created_at=now,
            trigger=trigger,
            event=event.to_dict() if event else {},
            captures=dict(captures or {}),
            vars=dict(vars or {}),
            dry_run=dry_run,
            service=service,
            requested_by=requested_by,
            parent_run_id=parent_run_id,
            severity=event.severity if event else "",
            priority=playbook.spec.priority,
            risk_level=playbook.spec.metadata.risk_level,
            expires_at=self.settings.governance.expires_at(status, now),
            approvals_needed=decision.approvals_needed if decision else 0,
            idempotency_key=idempotency_key,
        )
        reason = decision.reason if decision else f"{trigger} run requested"
        also = []
        if decision is not None:
            also.append(
                decision.audit_draft(
                    requested_by,
                    run.id,
                    run_id=run.id,
                    trigger=trigger,
                    override_window=override_window,
                )
            )
        return self.store.create_run(run, actor=requested_by, reason=reason, also=also)

    def govern_request(
        self,
        playbook: Playbook,
        *,
        event: Event | None,
        service: str,
        trigger: str,
        requested_by: str,
        override_window: bool = False,
        captures: Mapping[str, Any] | None = None,
        vars: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The governor's decision on a person's (or an API client's) request for a run."""
        now = self.clock.now()
        subject = event or Event(
            id="manual",
            time=now,
            source="manual",
            kind="manual",
            service=service,
            severity="info",
            message=f"{trigger} run of {playbook.name} requested by {requested_by}",
        )
        flags = {
            "in_change_freeze": False,
            "dry_run": False,
            **context_flags(self.calendar, now),
            "override_window": override_window,
        }
        return self.governor.decide(
            GuardInput(
                event=subject,
                playbook=playbook,
                captures=dict(captures or {}),
                signature=f"{trigger}:{requested_by}",
                mode=self.settings.mode,
                flags=flags,
                config=self.settings.config,
                now=now,
                trigger=trigger,
                requested_by=requested_by,
                vars=dict(vars or {}),
            )
        )

    async def execute(
        self,
        name: str,
        *,
        vars: Mapping[str, Any] | None = None,
        event: Event | None = None,
        requested_by: str = "cli",
        trigger: str = "manual",
        parent_run_id: str | None = None,
        override_window: bool = False,
    ) -> Run:
        """Create a run and, when the governor queued it, drive it to its final state.

        A run that must wait (approval, change window, observe-only proposal) is returned as
        it is: ``grace approve`` and a running ``grace serve`` take it from there.
        """
        run = await anyio.to_thread.run_sync(
            lambda: self.new_run(
                name,
                vars=vars,
                event=event,
                requested_by=requested_by,
                trigger=trigger,
                parent_run_id=parent_run_id,
                override_window=override_window,
            )
        )
        if run.status is not RunStatus.QUEUED:
            return run
        return await self.runner.execute(run.id)

    def plan(
        self, name: str, *, vars: Mapping[str, Any] | None = None, event: Event | None = None
    ) -> Plan:
        """Dry-run: what would run, rendered, without touching anything (not even the database)."""
        return build_plan(
            self.playbook(name), self.registry, self.settings, self.clock, vars=vars, event=event
        )

    # -- recovery ---------------------------------------------------------------------------

    async def recover(self) -> list[Recovery]:
        """Resume or interrupt runs whose worker died (called on start)."""
        outcomes: list[Recovery] = []
        orphans = await anyio.to_thread.run_sync(
            lambda: find_orphans(self.store, now=self.clock.now(), self_owner=self.runner.owner)
        )
        for run in orphans:
            verdict = await anyio.to_thread.run_sync(
                decide, run, self.store, self.registry, self.playbook
            )
            outcomes.append(verdict)
            if verdict.action == "resume":
                log.warning(
                    f"resuming run {run.id}: {verdict.reason}",
                    event_type="run.resume",
                    run_id=run.id,
                )
                try:
                    await self.runner.execute(run.id, resume=True)
                except RunError as exc:
                    log.warning(f"could not resume {run.id}: {exc}", event_type="run.resume_failed")
            else:
                log.warning(
                    f"run {run.id} interrupted: {verdict.reason}",
                    event_type="run.interrupted",
                    run_id=run.id,
                )
                await anyio.to_thread.run_sync(
                    partial(self.store.interrupt_run, run.id, reason=verdict.reason)
                )
        return outcomes

    # -- PlaybookLauncher (for the playbook.run action) ------------------------------------

    async def run_playbook(
        self, name: str, *, vars: Mapping[str, Any], parent_run_id: str, wait: bool
    ) -> tuple[str, str]:
        """Start a child run; refuse nesting deeper than :data:`MAX_PLAYBOOK_DEPTH`."""
        depth = 0
        cursor: str | None = parent_run_id
        while cursor is not None:
            depth += 1
            if depth > MAX_PLAYBOOK_DEPTH:
                msg = f"playbook.run nested deeper than {MAX_PLAYBOOK_DEPTH} levels (from {parent_run_id}); refusing"
                raise RunError(msg)
            cursor = (await anyio.to_thread.run_sync(self.store.get_run, cursor)).parent_run_id
        if not wait:
            run = await anyio.to_thread.run_sync(
                lambda: self.new_run(
                    name,
                    vars=vars,
                    trigger="playbook.run",
                    requested_by="runner",
                    parent_run_id=parent_run_id,
                )
            )
            return run.id, run.status.value
        final = await self.execute(
            name,
            vars=vars,
            trigger="playbook.run",
            requested_by="runner",
            parent_run_id=parent_run_id,
        )
        return final.id, final.status.value

    def record(self, actor: str, action: str, subject: str, **payload: Any) -> None:
        """Append one standalone audit entry (a decision not tied to a state change)."""
        self.store.append_audit([AuditDraft(actor, action, subject, payload)])


def build_plan(
    playbook: Playbook,
    registry: ActionRegistry,
    settings: Settings,
    clock: Clock,
    *,
    vars: Mapping[str, Any] | None = None,
    event: Event | None = None,
) -> Plan:
    """The dry-run plan of ``playbook`` for this event and these vars."""
    run = Run(
        id="run_dry_run",
        playbook=playbook.name,
        playbook_version=playbook.version,
        status=RunStatus.PROPOSED,
        created_at=clock.now(),
        event=event.to_dict() if event else {},
        vars=dict(vars or {}),
        dry_run=True,
        service=(event.service if event else "") or str((vars or {}).get("service", "")),
    )
    return plan_run(
        playbook,
        run,
        registry=registry,
        config=settings.config,
        flags={"in_change_freeze": False, "dry_run": True},
    )


def plan_offline(
    settings: Settings,
    name: str,
    *,
    vars: Mapping[str, Any] | None = None,
    event: Event | None = None,
) -> Plan:
    """Dry-run without an engine: no database is opened or created, nothing is written."""
    registry = default_registry()
    loaded, _errors = load_library(
        settings.playbook_dirs, registry=registry, include_bundled=settings.bundled_playbooks
    )
    if name not in loaded:
        raise UnknownPlaybook(name, sorted(loaded))
    return build_plan(loaded[name], registry, settings, SystemClock(), vars=vars, event=event)
