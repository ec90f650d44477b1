"""Static checks of expressions and templates: syntax, names, event fields, step outputs.

A template is parsed (never rendered) and its AST walked:

- names not bound inside the template must be a template root (``event``, ``steps`` …), a
  Jinja global (``range``) or, in conditions, a context flag;
- ``event.<field>`` must be a field of :class:`grace.events.Event`
  (``event.attributes.<anything>`` is free-form);
- ``steps.<name>.outputs.<key>`` must name a step that has run by then and a key it exposes;
- filters and tests must exist; templates may not include or import other templates.

Only a playbook that is parsed (not one loaded from the cache) is checked, so Jinja2 is imported
by the checks themselves, not with this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeGuard

from grace.events import Event
from grace.playbooks._report import Report, did_you_mean, with_listing
from grace.playbooks._source import FieldPath
from grace.playbooks._templating import Templates, is_template

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError

__all__ = ("EVENT_FIELDS", "Scope", "StepRef", "TemplateChecker")

EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Event))
"""What ``event.<field>`` may name (the fields of :class:`grace.events.Event`)."""

Part = str | None
"""One link of an attribute chain; None when it is computed (``steps[vars.name]``)."""


@dataclass(frozen=True, slots=True)
class StepRef:
    """What templates may know about one step."""

    where: str
    """Its field path, for messages (``steps.2``)."""
    exposed: frozenset[str] | None
    """Output keys readable as ``steps.<name>.outputs.<key>``; None when unknown."""
    declared: frozenset[str] | None
    """Output keys its action declares; None when the action is unknown."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a template at one place in the playbook can see."""

    roots: frozenset[str]
    """Names it may start from (besides Jinja's globals)."""
    steps: Mapping[str, StepRef]
    """Every step of the playbook, by name."""
    visible: frozenset[str]
    """The steps that have run when this template is evaluated."""
    current: str = ""
    """The step this template belongs to (empty for conditions)."""
    not_yet: str = "a step can only use the outputs of the steps before it"
    """Why a step that exists is not visible here (the hint)."""


@cache
def _templates() -> Templates:
    return Templates()


class TemplateChecker:
    """Checks expressions (``when``, conditions) and templated values at load time."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.templates = _templates()

    def expression(self, source: str, path: FieldPath, scope: Scope) -> None:
        """Check a bare Jinja2 expression such as ``steps.find.outputs.pids | length > 0``."""
        from jinja2.exceptions import TemplateSyntaxError

        try:
            tree = self.templates.parse_expression(source)
        except TemplateSyntaxError as exc:
            text = exc.message or "syntax error"
            text = text.replace("end of template", "end of expression")
            hint = (
                "write a bare expression, without '{{ }}' (e.g. when: \"vars.retry > 0\")"
                if is_template(source)
                else "check brackets, quotes and operators (Jinja2 expression syntax)"
            )
            self.report.add(path, f"invalid expression {source!r}: {text}{_line(exc)}", hint)
            return
        except RecursionError:
            self.report.add(path, "expression is nested too deeply", "simplify it")
            return
        self._analyse(tree, path, scope)

    def template(self, source: str, path: FieldPath, scope: Scope) -> None:
        """Check a templated value such as ``"restart {{ event.service }}"``."""
        from jinja2.exceptions import TemplateSyntaxError

        try:
            tree = self.templates.parse_value(source)
        except TemplateSyntaxError as exc:
            text = exc.message or "syntax error"
            hint = "check the '{{ … }}' and '{% … %}' delimiters, brackets and quotes"
            self.report.add(path, f"invalid template {source!r}: {text}{_line(exc)}", hint)
            return
        except RecursionError:
            self.report.add(path, "template is nested too deeply", "simplify it")
            return
        self._analyse(tree, path, scope)

    def _analyse(self, tree: nodes.Template, path: FieldPath, scope: Scope) -> None:
        from jinja2 import meta, nodes
        from jinja2.exceptions import TemplateSyntaxError

        env = self.templates.env
        tree.set_environment(env)
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            kind = type(node).__name__.lower()
            self.report.add(
                path,
                f"templates cannot load other templates ({{% {kind} %}})",
                "put the text in the playbook itself",
            )
        unknown = False
        for f in tree.find_all(nodes.Filter):
            if f.name not in env.filters:
                unknown = True
                hint = did_you_mean(f.name, env.filters) or "see Jinja2's list of builtin filters"
                self.report.add(path, f"unknown filter '{f.name}'", hint)
        for t in tree.find_all(nodes.Test):
            if t.name not in env.tests:
                unknown = True
                hint = did_you_mean(t.name, env.tests) or "see Jinja2's list of builtin tests"
                self.report.add(path, f"unknown test '{t.name}'", hint)
        try:
            free = meta.find_undeclared_variables(tree)
        except TemplateSyntaxError as exc:
            # Jinja's code generator refuses it (an unknown filter, reported above, or worse).
            if not unknown:
                self.report.add(path, f"invalid template: {exc.message}", None)
            return
        allowed = scope.roots | set(env.globals)
        for name in sorted(free - allowed):
            choices = ", ".join(sorted(scope.roots))
            close = did_you_mean(name, allowed)
            hint = with_listing(close, f"names available here: {choices}")
            self.report.add(path, f"'{name}' is not defined", hint)
        for root, parts in _chains(tree):
            if root not in free:
                continue  # bound inside the template ({% set %}, a loop variable)
            if root == "event":
                self._event(parts, path)
            elif root == "steps":
                self._step(parts, path, scope)

    def _event(self, parts: list[Part], path: FieldPath) -> None:
        if not parts or parts[0] is None or parts[0] in EVENT_FIELDS:
            return
        name = parts[0]
        close = did_you_mean(f"event.{name}", (f"event.{f}" for f in EVENT_FIELDS))
        listing = f"event fields: {', '.join(EVENT_FIELDS)}"
        hint = with_listing(close, listing)
        self.report.add(path, f"'event.{name}' is not an event field", hint)

    def _step(self, parts: list[Part], path: FieldPath, scope: Scope) -> None:
        if not parts or parts[0] is None:
            return
        name = parts[0]
        ref = scope.steps.get(name)
        if ref is None:
            known = sorted(scope.steps)
            hint = did_you_mean(name, known) or (
                f"steps in this playbook: {', '.join(known)}" if known else None
            )
            self.report.add(path, f"'steps.{name}' refers to no step named '{name}'", hint)
            return
        if name not in scope.visible:
            what = "itself" if name == scope.current else f"step '{name}' ({ref.where})"
            self.report.add(
                path, f"'steps.{name}' refers to {what}, which has not run yet", scope.not_yet
            )
            return
        if len(parts) < 3 or parts[1] != "outputs" or parts[2] is None:
            return
        key = parts[2]
        if ref.exposed is None or key in ref.exposed:
            return
        exposed = sorted(ref.exposed)
        if ref.declared is not None and key in ref.declared:
            hint = f"add '{key}' to the 'outputs' of step '{name}'"
        else:
            listing = f"it exposes: {', '.join(exposed)}" if exposed else "it exposes no outputs"
            hint = with_listing(did_you_mean(key, exposed), listing)
        self.report.add(path, f"step '{name}' has no output '{key}'", hint)


def _line(exc: TemplateSyntaxError) -> str:
    return f" (line {exc.lineno} of it)" if exc.lineno and exc.lineno > 1 else ""


def _chains(tree: nodes.Template) -> list[tuple[str, list[Part]]]:
    """Every maximal ``name.attr[key]…`` chain: its root name and links.

    A chain that is called (``steps.a.outputs.get('x')``) loses its last link: it is a method.
    """
    from jinja2 import nodes

    links = [n for n in tree.find_all((nodes.Getattr, nodes.Getitem)) if _is_link(n)]
    inner = {id(n.node) for n in links}
    called = {id(c.node) for c in tree.find_all(nodes.Call)}
    chains: list[tuple[str, list[Part]]] = []
    for top in links:
        if id(top) in inner:
            continue
        parts: list[Part] = []
        node: nodes.Node = top
        while isinstance(node, nodes.Getattr | nodes.Getitem):
            parts.append(_link(node))
            node = node.node
        if not isinstance(node, nodes.Name):
            continue
        parts.reverse()
        if id(top) in called and isinstance(top, nodes.Getattr):
            parts.pop()
        chains.append((node.name, parts))
    return chains


def _is_link(node: nodes.Node) -> TypeGuard[nodes.Getattr | nodes.Getitem]:
    from jinja2 import nodes

    return isinstance(node, nodes.Getattr | nodes.Getitem)


def _link(node: nodes.Getattr | nodes.Getitem) -> Part:
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = node.arg
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
        return arg.value
    return None
