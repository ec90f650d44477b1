"""Load one playbook: YAML → checked, typed :class:`Playbook`, or every fault at once.

The checks run in layers over the same plain data, each adding to one report:

1. YAML syntax (nothing else can run when it fails);
2. structure: the pydantic models (unknown keys, types, ranges, required fields);
3. triggers: regexes, cron, timezones, which fields each trigger type reads;
4. steps: unique names, known actions, ``with`` against the action's parameter model,
   declared outputs, templates and ``when``;
5. conditions and alert thresholds: expressions and the names they use.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, get_args

from grace.actions import ActionRegistry
from grace.errors import PlaybookError, Problem
from grace.playbooks._model import PlaybookSpec, TrackedMetric
from grace.playbooks._playbook import Playbook
from grace.playbooks._references import Scope, StepRef, TemplateChecker
from grace.playbooks._report import Report
from grace.playbooks._source import parse_document
from grace.playbooks._steps import RECOVERY_GROUPS, check_steps, step_entries
from grace.playbooks._templating import CONTEXT_FLAGS, TEMPLATE_ROOTS
from grace.playbooks._triggers import check_triggers
from grace.playbooks._validate import validate_model

__all__ = ("load_bytes", "load_file", "load_text")

_SHAPE_HINT = "a playbook is a mapping with at least 'name:' and 'steps:' (see docs/playbooks.md)"


def load_text(
    text: str, *, file: str = "<string>", registry: ActionRegistry, bundled: bool = False
) -> Playbook:
    """Load a playbook from YAML text.

    Args:
        text: the YAML document.
        file: where it came from, shown in every problem.
        registry: the actions steps may call (their parameters are checked against it).
        bundled: it ships with Grace (recorded on the playbook).

    Raises:
        PlaybookError: listing every fault found in the text, in file order.
    """
    document, problems = parse_document(text, file)
    if document is None:
        raise PlaybookError(problems, file=file)
    report = Report(file, document)
    report.extend(problems)
    data = document.data
    if not isinstance(data, Mapping):
        shape = "the file is empty" if data is None else f"got {_kind(data)}"
        report.add((), f"the top level must be a mapping of keys ({shape})", _SHAPE_HINT)
        report.raise_if_any()
    spec = validate_model(PlaybookSpec, data, report)
    check_triggers(data, report)
    checker = TemplateChecker(report)
    refs = check_steps(step_entries(data), report, registry, checker)
    _check_conditions(data, refs, checker)
    _check_thresholds(data, checker)
    report.raise_if_any()
    if spec is None:  # pragma: no cover - every structural fault is reported above
        raise PlaybookError("the playbook is invalid", file=file)
    return Playbook(
        spec=_name_recovery_steps(spec),
        file=file,
        lines=document.lines(),
        bundled=bundled,
    )


def load_file(
    path: str | PathLike[str], *, registry: ActionRegistry, bundled: bool = False
) -> Playbook:
    """Load a playbook file (UTF-8 YAML).

    Raises:
        PlaybookError: the file cannot be read, or every fault found in it.
    """
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PlaybookError(
            Problem(file, 0, 0, f"cannot read the file: {reason}", "check the path")
        ) from exc
    return load_bytes(raw, file=file, registry=registry, bundled=bundled)


def load_bytes(
    raw: bytes, *, file: str, registry: ActionRegistry, bundled: bool = False
) -> Playbook:
    """Load a playbook from the bytes of its file (UTF-8, a BOM allowed).

    Raises:
        PlaybookError: the bytes are not UTF-8, or every fault found in the playbook.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise PlaybookError(Problem(file, line, column, message, "save it as UTF-8")) from exc
    return load_text(text, file=file, registry=registry, bundled=bundled)


def _check_conditions(
    data: Mapping[str, Any], refs: dict[str, StepRef], checker: TemplateChecker
) -> None:
    conditions = data.get("conditions")
    if not isinstance(conditions, list):
        return
    scope = Scope(
        roots=frozenset(TEMPLATE_ROOTS) | frozenset(CONTEXT_FLAGS),
        steps=refs,
        visible=frozenset(),
        not_yet="conditions are checked before any step runs; use a step's 'when' instead",
    )
    for index, condition in enumerate(conditions):
        if isinstance(condition, Mapping) and isinstance(condition.get("check"), str):
            checker.expression(condition["check"], ("conditions", index, "check"), scope)


def _check_thresholds(data: Mapping[str, Any], checker: TemplateChecker) -> None:
    metrics = data.get("metrics")
    thresholds = metrics.get("alert_thresholds") if isinstance(metrics, Mapping) else None
    if not isinstance(thresholds, list):
        return
    scope = Scope(roots=frozenset(get_args(TrackedMetric)), steps={}, visible=frozenset())
    for index, threshold in enumerate(thresholds):
        if isinstance(threshold, Mapping) and isinstance(threshold.get("condition"), str):
            path = ("metrics", "alert_thresholds", index, "condition")
            checker.expression(threshold["condition"], path, scope)


def _name_recovery_steps(spec: PlaybookSpec) -> PlaybookSpec:
    """Give unnamed recovery steps their default names (``on_failure_1``, ``on_success_2``…)."""
    update: dict[str, Any] = {}
    for group in RECOVERY_GROUPS:
        steps = getattr(spec.recovery, group)
        update[group] = [
            step if step.name else step.model_copy(update={"name": f"{group}_{index + 1}"})
            for index, step in enumerate(steps)
        ]
    return spec.model_copy(update={"recovery": spec.recovery.model_copy(update=update)})


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
