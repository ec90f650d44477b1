"""Sandboxed Jinja2 for step parameters, ``when`` and conditions.

Templates never reach a shell string: they produce values, and actions receive values.
Undefined names are errors (``StrictUndefined``), never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from grace.playbooks._sandbox import Sandbox

__all__ = ("CONTEXT_FLAGS", "TEMPLATE_ROOTS", "Templates", "is_template")

TEMPLATE_ROOTS: tuple[str, ...] = (
    "event",
    "diagnosis",
    "vars",
    "config",
    "steps",
    "run",
    "context",
)
"""The names a template may start from."""

CONTEXT_FLAGS: tuple[str, ...] = ("in_change_freeze", "dry_run")
"""Context flags templates and conditions may also use as bare names (``not in_change_freeze``).

The runner supplies them both bare and under ``context.<flag>``; keep the two lists in step.
"""

_ONLY_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)


def is_template(value: object) -> bool:
    """True when ``value`` is a string Jinja would treat as a template."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class Templates:
    """Compiles and renders templates in Jinja2's immutable sandbox.

    Jinja2 (~2 MB of a daemon's memory) is imported when the first template is parsed or
    rendered, not when a ``Templates`` is made: an idle daemon, and a start that loads its
    playbooks from the cache, have none to render.
    """

    def __init__(self) -> None:
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The Jinja2 environment and its compiled-template caches, made on first use."""
        sandbox = self._sandbox
        if sandbox is None:
            from grace.playbooks._sandbox import Sandbox

            sandbox = self._sandbox = Sandbox()
        return sandbox

    @property
    def env(self) -> ImmutableSandboxedEnvironment:
        """The sandboxed environment (its filters, tests and globals)."""
        return self.sandbox.env

    def parse_expression(self, source: str) -> nodes.Template:
        """Parse an expression exactly as :meth:`evaluate` will compile it.

        Raises:
            jinja2.TemplateSyntaxError: ``source`` is not one complete expression.
        """
        return self.sandbox.parse_expression(source)

    def parse_template(self, source: str) -> nodes.Template:
        """Parse a template string (raises jinja2's TemplateSyntaxError)."""
        return self.sandbox.parse_template(source)

    def parse_value(self, source: str) -> nodes.Template:
        """Parse a templated parameter value the way :meth:`render` will treat it.

        A value that is one ``{{ expression }}`` is parsed as that expression; any other
        value as a template (raises jinja2's TemplateSyntaxError).
        """
        whole = _ONLY_EXPR.match(source)
        if whole and "{{" not in whole.group("expr"):
            return self.parse_expression(whole.group("expr").strip())
        return self.parse_template(source)

    def evaluate(self, expression: str, context: Mapping[str, Any], *, where: str = "") -> Any:
        """The value of a Jinja2 expression.

        Raises:
            TemplateError: the expression failed (undefined name, sandbox violation, type error).
        """
        return self.sandbox.evaluate(expression, context, where=where)

    def test(self, expression: str, context: Mapping[str, Any], *, where: str = "") -> bool:
        """An expression's truth (for ``when`` and conditions)."""
        return bool(self.evaluate(expression, context, where=where))

    def render(self, value: Any, context: Mapping[str, Any], *, where: str = "") -> Any:
        """Render templates inside ``value`` (recursively through lists and mappings).

        A string that is one ``{{ expression }}`` and nothing else yields the expression's
        native value (a list stays a list); any other template yields a string.
        """
        if isinstance(value, str):
            if not is_template(value):
                return value
            whole = _ONLY_EXPR.match(value)
            if whole and "{{" not in whole.group("expr"):
                return self.evaluate(whole.group("expr").strip(), context, where=where)
            return self.sandbox.render_string(value, context, where=where)
        if isinstance(value, Mapping):
            return {
                k: self.render(v, context, where=f"{where}.{k}" if where else str(k))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.render(v, context, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return value
