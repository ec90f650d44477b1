"""One step: ``when`` → render → validate → step gate → action under its deadline → record.

Retries are bounded by the step's :class:`RetryPolicy`; an ``ActionError(retryable=False)``,
a template error or a parameter error stops them at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from pydantic import ValidationError

from grace.actions import ActionContext, ActionDefinition, ActionRegistry, UnknownAction
from grace.errors import ActionError, FenceLost, TemplateError
from grace.logs import get_logger
from grace.playbooks import Playbook, StepSpec, Templates
from grace.runner._retry import RetryPolicy
from grace.runs import Run, StepAttempt, StepPhase, StepStatus
from grace.store import Store

__all__ = ("StepOutcome", "StepRunner")

log = get_logger("runner")

_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "authorization", "value")


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How a step ended, after all its attempts."""

    status: StepStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """Params as recorded when they could not be validated: secret-looking keys masked."""
    return {
        k: "***" if any(w in k.lower() for w in _SECRET_WORDS) else v for k, v in params.items()
    }


class StepRunner:
    """Runs steps of one run, recording every attempt through the store's step gate."""

    def __init__(
        self,
        *,
        store: Store,
        registry: ActionRegistry,
        templates: Templates,
        make_context: Any,
        rng: random.Random,
        owner: str,
    ) -> None:
        self.store = store
        self.registry = registry
        self.templates = templates
        self.make_context = make_context
        self.rng = rng
        self.owner = owner

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def _record_now(
        self,
        run: Run,
        fence: int,
        spec: StepSpec,
        phase: StepPhase,
        index: int,
        status: StepStatus,
        *,
        params: dict[str, Any],
        error: str | None,
        completed: bool,
        number: int = 1,
    ) -> StepOutcome:
        """Record a step that ends without calling its action (skipped, or failed before it)."""
        attempt = await self._db(
            self.store.begin_step,
            run.id,
            fence=fence,
            step=spec.name,
            phase=phase,
            index=index,
            attempt=number,
            action=spec.action,
            params=params,
            actor=self.owner,
        )
        await self._db(
            self.store.finish_step,
            attempt,
            fence=fence,
            status=status,
            error=error,
            completed=completed,
            actor=self.owner,
        )
        return StepOutcome(status=status, error=error, attempts=1)

    async def run_step(
        self,
        run: Run,
        *,
        fence: int,
        playbook: Playbook,
        spec: StepSpec,
        phase: StepPhase,
        index: int,
        template_ctx: dict[str, Any],
        path: str,
        first_attempt: int = 1,
    ) -> StepOutcome:
        """Run ``spec`` to its final outcome.

        Raises:
            FenceLost: the run was taken over; nothing further may run.
        """
        where = playbook.where(path)
        # 1. when
        if spec.when is not None:
            try:
                should_run = self.templates.test(spec.when, template_ctx, where=f"{where} when")
            except TemplateError as exc:
                return await self._record_now(
                    run,
                    fence,
                    spec,
                    phase,
                    index,
                    StepStatus.FAILED,
                    params={},
                    error=str(exc),
                    completed=False,
                    number=first_attempt,
                )
            if not should_run:
                return await self._record_now(
                    run,
                    fence,
                    spec,
                    phase,
                    index,
                    StepStatus.SKIPPED,
                    params={},
                    error=f"when: {spec.when!r} was false",
                    completed=True,
                    number=first_attempt,
                )
        # 2. render and validate
        try:
            definition = self.registry.get(spec.action)
        except UnknownAction as exc:
            error = f"{where}: unknown action {spec.action!r} ({exc.hint})"
            return await self._record_now(
                run,
                fence,
                spec,
                phase,
                index,
                StepStatus.FAILED,
                params={},
                error=error,
                completed=False,
                number=first_attempt,
            )
        try:
            rendered = self.templates.render(spec.with_, template_ctx, where=f"{where} with")
            params = definition.params.model_validate(rendered)
        except TemplateError as exc:
            return await self._record_now(
                run,
                fence,
                spec,
                phase,
                index,
                StepStatus.FAILED,
                params={},
                error=str(exc),
                completed=False,
                number=first_attempt,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'with'}: {e['msg']}" for e in exc.errors()
            )
            error = (
                f"{where}: parameters of {spec.action!r} are invalid after rendering: {problems}"
            )
            return await self._record_now(
                run,
                fence,
                spec,
                phase,
                index,
                StepStatus.FAILED,
                params=redact(dict(rendered)),
                error=error,
                completed=False,
                number=first_attempt,
            )
        recorded = params.model_dump(mode="json")
        policy = RetryPolicy(
            retries=spec.retries,
            initial_delay_s=spec.retry_delay_s,
            max_delay_s=spec.retry_max_delay_s,
        )
        return await self._attempts(
            run, fence, spec, phase, index, definition, params, recorded, policy, first_attempt
        )

    async def _attempts(
        self,
        run: Run,
        fence: int,
        spec: StepSpec,
        phase: StepPhase,
        index: int,
        definition: ActionDefinition,
        params: Any,
        recorded: dict[str, Any],
        policy: RetryPolicy,
        first_attempt: int,
    ) -> StepOutcome:
        last = StepOutcome(status=StepStatus.FAILED, error="no attempt made")
        for tried in range(policy.max_attempts):
            number = first_attempt + tried
            attempt: StepAttempt = await self._db(
                self.store.begin_step,
                run.id,
                fence=fence,
                step=spec.name,
                phase=phase,
                index=index,
                attempt=number,
                action=spec.action,
                params=recorded,
                actor=self.owner,
            )
            ctx: ActionContext = self.make_context(
                run, spec, number, backup=spec.backup is not False
            )
            try:
                status, outputs, error, retryable = await self._call(
                    definition, ctx, params, spec.timeout_s
                )
            except anyio.get_cancelled_exc_class():
                # The run's deadline or a shutdown: record the attempt, then let cancellation go on.
                with anyio.CancelScope(shield=True):
                    await self._db(
                        self.store.finish_step,
                        attempt,
                        fence=fence,
                        status=StepStatus.CANCELLED,
                        error="cancelled (run deadline or shutdown)",
                        actor=self.owner,
                    )
                raise
            completed = status is StepStatus.SUCCEEDED
            with anyio.CancelScope(shield=True):
                await self._db(
                    self.store.finish_step,
                    attempt,
                    fence=fence,
                    status=status,
                    outputs=outputs,
                    error=error,
                    completed=completed,
                    actor=self.owner,
                )
            log.info(
                f"step {spec.name} attempt {number}: {status.value}",
                event_type=f"step.{status.value}",
                step=spec.name,
                attempt=number,
                error=error,
            )
            last = StepOutcome(status=status, outputs=outputs, error=error, attempts=number)
            if completed or not retryable or tried + 1 >= policy.max_attempts:
                return last
            await ctx.clock.sleep(policy.delay(number, self.rng))
        return last

    async def _call(
        self, definition: ActionDefinition, ctx: ActionContext, params: Any, timeout_s: float
    ) -> tuple[StepStatus, dict[str, Any], str | None, bool]:
        """Call the action once; returns (status, outputs, error, retryable)."""
        try:
            with anyio.fail_after(timeout_s):
                result = await definition.fn(ctx, params)
        except TimeoutError:
            return StepStatus.TIMED_OUT, {}, f"timed out after {timeout_s:g}s", True
        except ActionError as exc:
            return StepStatus.FAILED, dict(exc.outputs), f"{exc.type}: {exc}", exc.retryable
        except FenceLost:
            raise
        except Exception as exc:  # noqa: BLE001 - a buggy action fails its step, not the engine
            return StepStatus.FAILED, {}, f"{type(exc).__name__}: {exc}", True
        if not result.ok:
            return (
                StepStatus.FAILED,
                dict(result.outputs),
                result.summary or "the action reported failure",
                True,
            )
        return StepStatus.SUCCEEDED, dict(result.outputs), None, False
