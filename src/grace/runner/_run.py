"""The run state machine: claim → conditions → steps (under the run deadline) → recovery → final state.

Every transition goes through the store (with its audit entry) before the next side effect.
A run whose main steps fail runs ``recovery.on_failure`` and ends ``rolled_back`` when every
recovery step succeeded, else ``failed``; a run past its deadline ends ``timed_out`` (recovery
still runs, under its own bounded time).
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import anyio

from grace.actions import ActionContext, ActionRegistry, PlaybookLauncher, TicketDesk
from grace.audit._chain import AuditDraft
from grace.errors import FenceLost, Halted, TemplateError
from grace.logs import bind_context, get_logger
from grace.playbooks import Playbook, StepSpec, Templates
from grace.runner._context import template_context
from grace.runner._step import StepOutcome, StepRunner, StepTarget
from grace.runs import Run, RunStatus, StepPhase
from grace.store import Store
from grace.types import Clock

__all__ = ("Runner", "RunnerConfig", "default_owner")

log = get_logger("runner")

RECOVERY_BUDGET_S = 600.0
"""Upper bound on the time recovery steps may take after a failure or a timeout."""


def default_owner() -> str:
    """``host:pid`` — who holds a run's lease (used to spot a dead owner on this host)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Knobs of the runner."""

    run_timeout_s: float = 1800.0
    """Deadline of a run's main steps (``run_timeout_min`` x 60; a playbook may set its own)."""
    lease_s: float = 30.0
    """How long a claim lasts without renewal; renewed every third of it."""
    data_dir: Any = None
    backup_keep: int = 10
    config: Mapping[str, Any] | None = None
    """``config:`` from grace.yaml, visible to templates."""
    stop_poll_s: float = 0.2
    database_url: str = ""
    """The store's URL, for actions that reach the store themselves (``ports.prune``, ``service.*``)."""
    """How often a running run looks for the emergency stop (a row every node sees)."""


@dataclass
class _Halt:
    """The emergency stop's hold on one run: cancelling ``scope`` cuts the main steps short."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reason: str = ""


class Runner:
    """Executes runs. Time, ids and randomness are injected; nothing here reads the environment."""

    def __init__(
        self,
        *,
        store: Store,
        registry: ActionRegistry,
        playbooks: Callable[[str], Playbook],
        clock: Clock,
        config: RunnerConfig,
        tickets: TicketDesk | None = None,
        launcher: PlaybookLauncher | None = None,
        rng: random.Random | None = None,
        owner: str | None = None,
        flags: Callable[[datetime], Mapping[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.playbooks = playbooks
        self.clock = clock
        self.config = config
        self.tickets = tickets
        self.launcher = launcher
        self.owner = owner or default_owner()
        self.templates = Templates()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.flags = flags
        """Context flags from governance (``in_change_freeze``) at a given time."""

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    def _context_factory(self, run: Run) -> Callable[..., ActionContext]:
        def make(r: Run, spec: StepSpec, attempt: int, *, backup: bool) -> ActionContext:
            return ActionContext(
                run_id=r.id,
                step=spec.name,
                attempt=attempt,
                clock=self.clock,
                data_dir=self.config.data_dir,
                service=r.service,
                dry_run=r.dry_run,
                backup_keep=self.config.backup_keep,
                tickets=self.tickets,
                launcher=self.launcher,
                database_url=self.config.database_url,
                logger=log.bind(run_id=r.id, step=spec.name),
                backup=backup,
            )

        return make

    async def execute(self, run_id: str, *, resume: bool = False) -> Run:
        """Claim ``run_id`` and drive it to a final state. Returns the finished run.

        ``resume`` takes over a run whose worker is known to be dead (its lease may still look
        live) and continues after its last completed step.
        """
        run: Run = await self._db(
            self.store.claim_run,
            run_id,
            owner=self.owner,
            lease_s=self.config.lease_s,
            force=resume,
        )
        with bind_context(run_id=run.id, playbook_id=run.playbook):
            log.info(
                f"run {run.id} of {run.playbook} started", event_type="run.started", fence=run.fence
            )
            try:
                playbook = self.playbooks(run.playbook)
            except LookupError as exc:
                return await self._finish(
                    run, RunStatus.FAILED, f"playbook {run.playbook!r} is not loaded: {exc}"
                )
            halt = _Halt()
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._keep_lease, run)
                    tg.start_soon(self._watch_stop, halt)
                    try:
                        final = await self._drive(run, playbook, resume=resume, halt=halt)
                    finally:
                        tg.cancel_scope.cancel()
            except anyio.get_cancelled_exc_class():
                # Shutdown (or an operator) cancelled the run mid-flight: record it, then go on.
                with anyio.CancelScope(shield=True):
                    await self._db(
                        self.store.interrupt_run,
                        run.id,
                        reason="cancelled: Grace stopped while the run was in flight",
                        actor=self.owner,
                    )
                raise
            except FenceLost as exc:
                log.warning(str(exc), event_type="run.fence_lost")
                current: Run = await self._db(self.store.get_run, run.id)
                return current
            return final

    async def _keep_lease(self, run: Run) -> None:
        while True:
            await anyio.sleep(self.config.lease_s / 3)
            await self._db(
                self.store.renew_lease,
                run.id,
                fence=run.fence,
                owner=self.owner,
                lease_s=self.config.lease_s,
            )

    async def _watch_stop(self, halt: _Halt) -> None:
        """Cancel the main steps as soon as the emergency stop row appears."""
        while True:
            stop = await self._db(self.store.emergency_stop)
            if stop is not None:
                halt.reason = f"emergency_stop by {stop.get('by', '?')}: {stop.get('reason', '')}"
                halt.scope.cancel()
                return
            await anyio.sleep(self.config.stop_poll_s)

    def _flags(self, run: Run) -> dict[str, Any]:
        """Context flags conditions may test by bare name."""
        flags: dict[str, Any] = {"in_change_freeze": False, "dry_run": run.dry_run}
        if self.flags is not None:
            flags.update(self.flags(self.clock.now()))
        return flags

    async def _drive(self, run: Run, playbook: Playbook, *, resume: bool, halt: _Halt) -> Run:
        steps_state: dict[str, dict[str, Any]] = {
            name: {"outputs": outputs, "status": "succeeded"}
            for name, outputs in run.outputs.items()
        }
        config = dict(self.config.config or {})
        stepper = StepRunner(
            store=self.store,
            registry=self.registry,
            templates=self.templates,
            make_context=self._context_factory(run),
            rng=self.rng,
            owner=self.owner,
        )
        # Conditions: all must hold, else nothing runs.
        ctx = template_context(run, config=config, steps=steps_state, flags=self._flags(run))
        for i, cond in enumerate(playbook.spec.conditions):
            where = playbook.where(f"conditions.{i}.check")
            try:
                holds = self.templates.test(cond.check, ctx, where=where)
            except TemplateError as exc:
                return await self._finish(
                    run, RunStatus.FAILED, f"condition could not be evaluated: {exc}"
                )
            if not holds:
                reason = cond.reason or f"condition {cond.check!r} is false"
                await self._db(
                    self.store.append_audit,
                    [
                        AuditDraft(
                            self.owner,
                            "decision.blocked",
                            run.id,
                            {"check": cond.check, "reason": reason},
                        )
                    ],
                )
                return await self._finish(run, RunStatus.ABORTED, f"blocked by condition: {reason}")

        start = 0
        next_attempt: dict[int, int] = {}
        if resume:
            names = [s.name for s in playbook.steps]
            if run.last_completed_step in names:
                start = names.index(run.last_completed_step) + 1
            # A resumed step continues its attempt numbering: the cut-short try stays on record.
            for a in await self._db(self.store.step_attempts, run.id):
                if a.phase is StepPhase.MAIN:
                    next_attempt[a.index] = max(next_attempt.get(a.index, 1), a.attempt + 1)
        deadline_s = (
            (playbook.spec.timeout_min * 60)
            if playbook.spec.timeout_min
            else self.config.run_timeout_s
        )
        failure: str | None = None
        timed_out = False
        aborted = False
        try:
            with anyio.fail_after(deadline_s), halt.scope:
                for index in range(start, len(playbook.steps)):
                    spec = playbook.steps[index]
                    ctx = template_context(
                        run, config=config, steps=steps_state, flags=self._flags(run)
                    )
                    with bind_context(step=spec.name):
                        target = StepTarget(
                            run, run.fence, spec, StepPhase.MAIN, index, next_attempt.get(index, 1)
                        )
                        outcome = await stepper.run_step(
                            target, playbook=playbook, ctx=ctx, path=f"steps.{index}"
                        )
                    steps_state[spec.name] = _state(outcome)
                    if not outcome.ok and not spec.continue_on_failure:
                        failure = f"step {spec.name!r} failed: {outcome.error}"
                        break
        except TimeoutError:
            timed_out = True
            failure = f"run exceeded its deadline of {deadline_s:g}s"
        except Halted as exc:  # the step gate saw the stop before the watcher did
            aborted, failure = True, f"aborted: {exc}"
        if halt.scope.cancelled_caught:
            aborted, failure = True, f"aborted: {halt.reason}"

        if failure is None:
            await self._recovery(run, playbook, stepper, StepPhase.ON_SUCCESS, steps_state, config)
            return await self._finish(run, RunStatus.SUCCEEDED, None)
        recovered = await self._recovery(
            run, playbook, stepper, StepPhase.ON_FAILURE, steps_state, config
        )
        if aborted:
            return await self._finish(run, RunStatus.ABORTED, failure)
        if timed_out:
            await self._learning_record(run, "timed_out", failure)
            return await self._finish(run, RunStatus.TIMED_OUT, failure)
        status = (
            RunStatus.ROLLED_BACK
            if recovered and playbook.spec.recovery.on_failure
            else RunStatus.FAILED
        )
        return await self._finish(run, status, failure)

    async def _recovery(
        self,
        run: Run,
        playbook: Playbook,
        stepper: StepRunner,
        phase: StepPhase,
        steps_state: dict[str, dict[str, Any]],
        config: dict[str, Any],
    ) -> bool:
        """Run ``on_failure`` or ``on_success`` steps; True when all of them succeeded."""
        specs = (
            playbook.spec.recovery.on_failure
            if phase is StepPhase.ON_FAILURE
            else playbook.spec.recovery.on_success
        )
        ok = True
        budget = min(RECOVERY_BUDGET_S, sum(s.timeout_s * (s.retries + 1) for s in specs) + 1.0)
        with anyio.move_on_after(budget) as scope:
            for index, spec in enumerate(specs):
                name = spec.name or f"{phase.value}_{index + 1}"
                spec = spec.model_copy(update={"name": name}) if not spec.name else spec
                ctx = template_context(
                    run, config=config, steps=steps_state, flags=self._flags(run)
                )
                with bind_context(step=name):
                    outcome = await stepper.run_step(
                        StepTarget(run, run.fence, spec, phase, index),
                        playbook=playbook,
                        ctx=ctx,
                        path=f"recovery.{phase.value}.{index}",
                    )
                steps_state[name] = _state(outcome)
                if not outcome.ok:
                    ok = False
                    if not spec.continue_on_failure and phase is StepPhase.ON_SUCCESS:
                        break
        return ok and not scope.cancelled_caught

    async def _learning_record(self, run: Run, outcome: str, detail: str) -> None:
        await self._db(
            self.store.append_audit,
            [
                AuditDraft(
                    self.owner,
                    "learning.outcome",
                    run.id,
                    {"playbook": run.playbook, "outcome": outcome, "detail": detail},
                )
            ],
        )

    async def _finish(self, run: Run, status: RunStatus, error: str | None) -> Run:
        with anyio.CancelScope(shield=True):
            final: Run = await self._db(
                self.store.finish_run,
                run.id,
                fence=run.fence,
                status=status,
                error=error,
                actor=self.owner,
            )
        level = "info" if status is RunStatus.SUCCEEDED else "warning"
        getattr(log, level)(
            f"run {run.id} {status.value}" + (f": {error}" if error else ""),
            event_type=f"run.{status.value}",
        )
        return final


def _state(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "outputs": dict(outcome.outputs),
        "status": outcome.status.value,
        "error": outcome.error,
    }
