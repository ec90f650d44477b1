"""Checks of the steps and recovery steps: names, actions, parameters, outputs, templates.

These run on the plain data, whether or not the structural validation passed, so that one
load reports every fault of the file. Whatever has the wrong type here was already reported
by the structural validation and is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grace.actions import ActionDefinition, ActionRegistry, UnknownAction
from grace.playbooks._model import StepSpec
from grace.playbooks._references import Scope, StepRef, TemplateChecker
from grace.playbooks._report import Report, did_you_mean, with_listing
from grace.playbooks._source import FieldPath, dotted
from grace.playbooks._templating import CONTEXT_FLAGS, TEMPLATE_ROOTS, is_template
from grace.playbooks._validate import Loc, validate_model

__all__ = ("RECOVERY_GROUPS", "StepEntry", "check_steps", "step_entries")

RECOVERY_GROUPS: tuple[str, ...] = ("on_failure", "on_success")
"""The recovery lists, in the order they are checked."""

_DEFAULT_CEILING = StepSpec.model_fields["retry_max_delay_s"].default


@dataclass(frozen=True, slots=True)
class StepEntry:
    """One step as found in the file, before it is known to be valid."""

    path: FieldPath
    """``("steps", 2)`` or ``("recovery", "on_failure", 0)``."""
    group: str
    """``steps``, ``on_failure`` or ``on_success``."""
    raw: Mapping[str, Any]
    """The step's mapping, as loaded."""
    name: str | None
    """Its name (the default one for unnamed recovery steps); None when unusable."""
    named: bool
    """False for a recovery step that got a default name."""


def step_entries(data: Mapping[str, Any]) -> list[StepEntry]:
    """Every step mapping of the playbook, main steps first, then recovery steps."""
    entries: list[StepEntry] = []
    steps = data.get("steps")
    if isinstance(steps, list):
        for index, raw in enumerate(steps):
            if isinstance(raw, Mapping):
                usable = _usable(raw.get("name"))
                entries.append(StepEntry(("steps", index), "steps", raw, usable, named=True))
    recovery = data.get("recovery")
    if isinstance(recovery, Mapping):
        for group in RECOVERY_GROUPS:
            items = recovery.get(group)
            if not isinstance(items, list):
                continue
            for index, raw in enumerate(items):
                if not isinstance(raw, Mapping):
                    continue
                name = raw.get("name")
                default = name is None or name == ""
                usable = f"{group}_{index + 1}" if default else _usable(name)
                path = ("recovery", group, index)
                entries.append(StepEntry(path, group, raw, usable, named=not default))
    return entries


def _usable(name: object) -> str | None:
    return name if isinstance(name, str) and name else None


def check_steps(
    entries: list[StepEntry], report: Report, registry: ActionRegistry, checker: TemplateChecker
) -> dict[str, StepRef]:
    """Check names, actions, parameters, outputs and templates of every step.

    Returns:
        What templates may know about each step, by name (for the conditions' checks).
    """
    actions = {id(e): _action(e, report, registry) for e in entries}
    _check_unique(entries, report)
    refs: dict[str, StepRef] = {}
    for entry in entries:
        if entry.name is not None and entry.name not in refs:
            refs[entry.name] = _ref(entry, actions[id(entry)])
    main = [e.name for e in entries if e.group == "steps" and e.name]
    for position, entry in enumerate(entries):
        defn = actions[id(entry)]
        earlier = [e.name for e in entries[:position] if e.group == entry.group and e.name]
        visible = frozenset(earlier if entry.group == "steps" else [*main, *earlier])
        scope = Scope(
            roots=frozenset((*TEMPLATE_ROOTS, *CONTEXT_FLAGS)),
            steps=refs,
            visible=visible,
            current=entry.name or "",
        )
        _check_outputs(entry, defn, report)
        _check_with(entry, defn, report, checker, scope)
        when = entry.raw.get("when")
        if isinstance(when, str):
            checker.expression(when, (*entry.path, "when"), scope)
        _check_backoff(entry, report)
    return refs


def _action(entry: StepEntry, report: Report, registry: ActionRegistry) -> ActionDefinition | None:
    name = entry.raw.get("action")
    if not isinstance(name, str):
        return None
    try:
        return registry.get(name)
    except UnknownAction as exc:
        report.add((*entry.path, "action"), f"unknown action '{name}'", exc.hint)
        return None


def _ref(entry: StepEntry, defn: ActionDefinition | None) -> StepRef:
    declared = frozenset(defn.outputs) if defn is not None else None
    listed = entry.raw.get("outputs")
    if isinstance(listed, list) and listed:
        exposed: frozenset[str] | None = frozenset(k for k in listed if isinstance(k, str))
    else:
        exposed = declared
    return StepRef(where=dotted(entry.path), exposed=exposed, declared=declared)


def _check_unique(entries: list[StepEntry], report: Report) -> None:
    first: dict[str, StepEntry] = {}
    for entry in entries:
        if entry.name is None:
            continue
        other = first.setdefault(entry.name, entry)
        if other is entry:
            continue
        line = report.document.key_mark((*other.path, "name")).line
        if entry.named:
            report.add(
                (*entry.path, "name"),
                f"duplicate step name '{entry.name}' (first used by {dotted(other.path)}, "
                f"line {line})",
                "step names must be unique across steps and recovery steps: rename one",
                at="key",
            )
        else:
            report.add(
                entry.path,
                f"this recovery step's default name '{entry.name}' is already used by "
                f"{dotted(other.path)} (line {line})",
                "give this recovery step a 'name:' of its own",
                at="key",
            )


def _check_outputs(entry: StepEntry, defn: ActionDefinition | None, report: Report) -> None:
    listed = entry.raw.get("outputs")
    if defn is None or not isinstance(listed, list):
        return
    declared = list(defn.outputs)
    listing = (
        f"action '{defn.name}' declares: {', '.join(declared)}"
        if declared
        else f"action '{defn.name}' declares no outputs"
    )
    for index, key in enumerate(listed):
        if isinstance(key, str) and key not in declared:
            close = did_you_mean(key, declared)
            report.add(
                (*entry.path, "outputs", index),
                f"action '{defn.name}' has no output '{key}'",
                with_listing(close, listing),
            )


def _check_with(
    entry: StepEntry,
    defn: ActionDefinition | None,
    report: Report,
    checker: TemplateChecker,
    scope: Scope,
) -> None:
    params = entry.raw.get("with", {})
    base = (*entry.path, "with")
    for path, text in _templates_in(params, base):
        checker.template(text, path, scope)
    if defn is None or not isinstance(params, Mapping):
        return
    try:
        validate_model(
            defn.params,
            params,
            report,
            base=base,
            noun="parameter",
            owner=f"action '{defn.name}'",
            skip=lambda loc: _templated(params, loc),
        )
    except Exception as exc:  # noqa: BLE001 - a plugin's validator may raise anything; report it
        report.add(
            base,
            f"validating the parameters of action '{defn.name}' failed: {exc!r}",
            "this is a bug in the action's parameter model; report it to its author",
        )


def _templates_in(value: Any, path: FieldPath) -> list[tuple[FieldPath, str]]:
    """Every templated string inside ``value``, with its field path."""
    if is_template(value):
        return [(path, value)]
    found: list[tuple[FieldPath, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(_templates_in(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_templates_in(item, (*path, index)))
    return found


def _templated(params: Mapping[str, Any], loc: Loc) -> bool:
    """True when a fault at ``loc`` may be due to a template (only known once rendered).

    That is: ``loc`` runs into a templated string, or the fault concerns the whole model
    (a cross-field validator) and some value is templated.
    """
    node: Any = params
    for part in loc:
        if is_template(node):
            return True
        if not _has(node, part):
            break  # the rest of loc is union tags, or a key that is missing
        node = node[part]
    return is_template(node) or (not loc and bool(_templates_in(params, ())))


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _check_backoff(entry: StepEntry, report: Report) -> None:
    delay = entry.raw.get("retry_delay_s")
    ceiling = entry.raw.get("retry_max_delay_s", _DEFAULT_CEILING)
    if _number(delay) and _number(ceiling) and delay > ceiling:
        default = "" if "retry_max_delay_s" in entry.raw else ", the default"
        report.add(
            (*entry.path, "retry_delay_s"),
            f"retry_delay_s ({delay}) is larger than retry_max_delay_s ({ceiling}{default})",
            "the first delay cannot exceed the ceiling: lower retry_delay_s or raise "
            "retry_max_delay_s",
        )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
