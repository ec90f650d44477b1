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

__all__ = ("StepOutcome", "StepRunner", "StepTarget")

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


@dataclass(frozen=True, slots=True)
class StepTarget:
    """Which step of which run, under which fence."""

    run: Run
    fence: int
    spec: StepSpec
    phase: StepPhase
    index: int
    first_attempt: int = 1
    """Number of the first attempt (a resumed step continues its numbering)."""


@dataclass(frozen=True, slots=True)
class _Early:
    """A step that ends before its action is called."""

    status: StepStatus
    error: str
    params: dict[str, Any] = field(default_factory=dict)


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

    async def _begin(self, at: StepTarget, number: int, params: dict[str, Any]) -> StepAttempt:
        """The step gate (raises FenceLost when the run moved on)."""
        attempt: StepAttempt = await self._db(
            self.store.begin_step,
            at.run.id,
            fence=at.fence,
            step=at.spec.name,
            phase=at.phase,
            index=at.index,
            attempt=number,
            action=at.spec.action,
            params=params,
            actor=self.owner,
        )
        return attempt

    async def _finish(
        self,
        at: StepTarget,
        attempt: StepAttempt,
        status: StepStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
        completed: bool = False,
    ) -> None:
        with anyio.CancelScope(shield=True):  # an outcome is recorded even while cancelling
            await self._db(
                self.store.finish_step,
                attempt,
                fence=at.fence,
                status=status,
                outputs=outputs,
                error=error,
                completed=completed,
                actor=self.owner,
            )

    async def run_step(
        self, at: StepTarget, *, playbook: Playbook, ctx: dict[str, Any], path: str
    ) -> StepOutcome:
        """Run the step at ``at`` to its final outcome.

        Raises:
            FenceLost: the run was taken over; nothing further may run.
        """
        prepared = self._prepare(at.spec, ctx, playbook.where(path))
        if isinstance(prepared, _Early):
            # Ends without calling the action: skipped, or failed before it could run.
            attempt = await self._begin(at, at.first_attempt, prepared.params)
            skipped = prepared.status is StepStatus.SKIPPED
            await self._finish(
                at, attempt, prepared.status, error=prepared.error, completed=skipped
            )
            return StepOutcome(status=prepared.status, error=prepared.error, attempts=1)
        definition, params = prepared
        policy = RetryPolicy(
            retries=at.spec.retries,
            initial_delay_s=at.spec.retry_delay_s,
            max_delay_s=at.spec.retry_max_delay_s,
        )
        return await self._attempts(at, definition, params, policy)

    def _prepare(
        self, spec: StepSpec, ctx: dict[str, Any], where: str
    ) -> tuple[ActionDefinition, Any] | _Early:
        """``when``, then render and validate ``with``: the action and its params, or why not."""
        if spec.when is not None:
            try:
                if not self.templates.test(spec.when, ctx, where=f"{where} when"):
                    return _Early(StepStatus.SKIPPED, f"when: {spec.when!r} was false")
            except TemplateError as exc:
                return _Early(StepStatus.FAILED, str(exc))
        try:
            definition = self.registry.get(spec.action)
        except UnknownAction as exc:
            return _Early(
                StepStatus.FAILED, f"{where}: unknown action {spec.action!r} ({exc.hint})"
            )
        try:
            rendered = self.templates.render(spec.with_, ctx, where=f"{where} with")
        except TemplateError as exc:
            return _Early(StepStatus.FAILED, str(exc))
        try:
            return definition, definition.params.model_validate(rendered)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'with'}: {e['msg']}" for e in exc.errors()
            )
            error = (
                f"{where}: parameters of {spec.action!r} are invalid after rendering: {problems}"
            )
            return _Early(StepStatus.FAILED, error, redact(dict(rendered)))

    async def _attempts(
        self, at: StepTarget, definition: ActionDefinition, params: Any, policy: RetryPolicy
    ) -> StepOutcome:
        spec = at.spec
        recorded = params.model_dump(mode="json")
        last = StepOutcome(status=StepStatus.FAILED, error="no attempt made")
        for tried in range(policy.max_attempts):
            number = at.first_attempt + tried
            attempt = await self._begin(at, number, recorded)
            action_ctx: ActionContext = self.make_context(
                at.run, spec, number, backup=spec.backup is not False
            )
            try:
                status, outputs, error, retryable = await self._call(
                    definition, action_ctx, params, spec.timeout_s
                )
            except anyio.get_cancelled_exc_class():
                # The run's deadline or a shutdown: record the attempt, then let cancellation go on.
                await self._finish(
                    at,
                    attempt,
                    StepStatus.CANCELLED,
                    error="cancelled (run deadline, emergency stop or shutdown)",
                )
                raise
            completed = status is StepStatus.SUCCEEDED
            await self._finish(
                at, attempt, status, outputs=outputs, error=error, completed=completed
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
            await action_ctx.clock.sleep(policy.delay(number, self.rng))
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
