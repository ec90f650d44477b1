"""Dry-run: exactly what would run, with rendered parameters and evaluated conditions. Touches nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from grace.actions import ActionRegistry, UnknownAction
from grace.errors import TemplateError
from grace.playbooks import Playbook, StepSpec, Templates
from grace.runner._context import Placeholder, template_context
from grace.runs import Run

__all__ = ("Plan", "PlannedCondition", "PlannedStep", "plan_run")


@dataclass(frozen=True, slots=True)
class PlannedCondition:
    """A playbook condition and what it evaluated to."""

    check: str
    result: bool | None
    """None when it could not be evaluated before the run."""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step as it would run."""

    phase: str
    name: str
    action: str
    params: dict[str, Any]
    """Rendered parameters (values known only at run time shown as ``<steps.x.outputs.y at run time>``)."""
    description: str
    """The action's own dry-run sentence."""
    when: str | None = None
    when_result: bool | None = None
    """None: no ``when``, or it depends on run-time values."""
    problem: str | None = None
    """Why this step would fail before its action runs (bad template, invalid parameters)."""
    risk: str = "low"
    idempotent: bool = False
    destructive: bool = False
    timeout_s: float = 60.0
    retries: int = 0
    operations: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole dry-run of one playbook."""

    playbook: str
    version: str
    file: str
    conditions: list[PlannedCondition]
    steps: list[PlannedStep]

    @property
    def would_run(self) -> bool:
        """False when a condition is known to be false."""
        return all(c.result is not False for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class _RuntimeSteps(dict[str, Any]):
    def __missing__(self, key: str) -> Placeholder:
        return Placeholder(f"steps.{key}")


def _shown(value: Any) -> Any:
    if isinstance(value, Placeholder):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    return value


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, Placeholder):
        return True
    if isinstance(value, str):
        return "at run time>" in value
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_placeholder(v) for v in value)
    return False


def plan_run(
    playbook: Playbook,
    run: Run,
    *,
    registry: ActionRegistry,
    config: Mapping[str, Any],
    flags: Mapping[str, Any],
) -> Plan:
    """What ``run`` would do, computed without calling any action or writing anything."""
    templates = Templates()
    ctx = template_context(run, config=config, steps={}, flags=flags)
    ctx["steps"] = _RuntimeSteps()
    conditions: list[PlannedCondition] = []
    for i, cond in enumerate(playbook.spec.conditions):
        try:
            result = templates.test(cond.check, ctx, where=playbook.where(f"conditions.{i}.check"))
            conditions.append(PlannedCondition(cond.check, result, cond.reason))
        except TemplateError as exc:
            conditions.append(PlannedCondition(cond.check, None, str(exc)))
    steps: list[PlannedStep] = []
    groups: list[tuple[str, str, list[Any]]] = [
        ("main", "steps", list(playbook.steps)),
        ("on_failure", "recovery.on_failure", list(playbook.spec.recovery.on_failure)),
        ("on_success", "recovery.on_success", list(playbook.spec.recovery.on_success)),
    ]
    for phase, prefix, specs in groups:
        for i, spec in enumerate(specs):
            name = spec.name or f"{phase}_{i + 1}"
            steps.append(
                _plan_step(templates, registry, playbook, spec, name, phase, f"{prefix}.{i}", ctx)
            )
    return Plan(playbook.name, playbook.version, playbook.file, conditions, steps)


def _plan_step(
    templates: Templates,
    registry: ActionRegistry,
    playbook: Playbook,
    spec: StepSpec,
    name: str,
    phase: str,
    path: str,
    ctx: dict[str, Any],
) -> PlannedStep:
    where = playbook.where(path)
    when_result: bool | None = None
    problem: str | None = None
    if spec.when is not None:
        try:
            when_result = templates.test(spec.when, ctx, where=f"{where} when")
        except TemplateError:
            when_result = None  # depends on run-time values
    try:
        definition = registry.get(spec.action)
    except UnknownAction as exc:
        return PlannedStep(
            phase,
            name,
            spec.action,
            dict(spec.with_),
            "unknown action",
            spec.when,
            when_result,
            f"unknown action ({exc.hint})",
        )
    try:
        rendered = templates.render(spec.with_, ctx, where=f"{where} with")
    except TemplateError as exc:
        rendered, problem = dict(spec.with_), str(exc)
    shown = _shown(rendered)
    description = f"would call {definition.name} (parameters known at run time)"
    if problem is None and not _has_placeholder(rendered):
        try:
            params = definition.params.model_validate(rendered)
            shown = params.model_dump(mode="json")
            description = definition.plan(params)
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return PlannedStep(
        phase=phase,
        name=name,
        action=spec.action,
        params=shown,
        description=description,
        when=spec.when,
        when_result=when_result,
        problem=problem,
        risk=definition.risk,
        idempotent=definition.idempotent,
        destructive=definition.destructive,
        timeout_s=spec.timeout_s,
        retries=spec.retries,
        operations=list(spec.operations),
    )
