"""Jinja2's immutable sandbox, configured for Grace: what :class:`~grace.playbooks.Templates`
compiles, parses and renders with.

Its own module so that Jinja2 is imported when the first template is parsed or rendered (see
``_templating``), not when the playbooks package is.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from grace.errors import TemplateError

__all__ = ("Sandbox",)


class Sandbox:
    """Compiles (with a cache), parses and evaluates in one immutable sandboxed environment."""

    def __init__(self) -> None:
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )

    @lru_cache(maxsize=4096)  # noqa: B019 - one Sandbox per Templates; templates are few and reused
    def _expression(self, source: str) -> Any:
        return self.env.compile_expression(source, undefined_to_none=False)

    @lru_cache(maxsize=4096)  # noqa: B019 - see above
    def _template(self, source: str) -> Template:
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

    def render_string(self, source: str, context: Mapping[str, Any], *, where: str = "") -> str:
        """Render one template string to a string.

        Raises:
            TemplateError: rendering failed (undefined name, sandbox violation, type error).
        """
        try:
            return self._template(source).render(**context)
        except JinjaTemplateError as exc:
            raise TemplateError(_message(where, source, exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateError(_message(where, source, exc)) from exc


def _message(where: str, source: str, exc: BaseException) -> str:
    prefix = f"{where}: " if where else ""
    return f"{prefix}template {source!r} failed: {exc}"
