"""Sandboxed Jinja2 for step parameters, ``when`` and conditions.

Templates never reach a shell string: they produce values, and actions receive values.
Undefined names are errors (``StrictUndefined``), never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from grace.errors import TemplateError

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
    """Compiles and renders templates in Jinja2's immutable sandbox."""

    def __init__(self) -> None:
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )

    @lru_cache(maxsize=4096)  # noqa: B019 - one Templates per engine; templates are few and reused
    def _expression(self, source: str) -> Any:
        return self.env.compile_expression(source, undefined_to_none=False)

    @lru_cache(maxsize=4096)  # noqa: B019 - see above
    def _template(self, source: str) -> Any:
        return self.env.from_string(source)

    def parse_expression(self, source: str) -> nodes.Template:
        """Parse an expression exactly as :meth:`evaluate` will compile it.

        Raises:
            jinja2.TemplateSyntaxError: ``source`` is not one complete expression.
        """
        parser = Parser(self.env, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            msg = f"unexpected {token.value!r} after the end of the expression"
            raise TemplateSyntaxError(msg, token.lineno)
        return nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)

    def parse_template(self, source: str) -> nodes.Template:
        """Parse a template string (raises jinja2's TemplateSyntaxError)."""
        return self.env.parse(source)

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
        try:
            value = self._expression(expression)(**context)
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises here: a missing value is an error, never None
        except JinjaTemplateError as exc:
            raise TemplateError(_message(where, expression, exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateError(_message(where, expression, exc)) from exc
        return value

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
            try:
                return self._template(value).render(**context)
            except JinjaTemplateError as exc:
                raise TemplateError(_message(where, value, exc)) from exc
            except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
                raise TemplateError(_message(where, value, exc)) from exc
        if isinstance(value, Mapping):
            return {
                k: self.render(v, context, where=f"{where}.{k}" if where else str(k))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.render(v, context, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return value


def _message(where: str, source: str, exc: BaseException) -> str:
    prefix = f"{where}: " if where else ""
    return f"{prefix}template {source!r} failed: {exc}"
