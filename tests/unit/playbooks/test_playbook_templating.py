"""Templates: parsing exactly as rendering will, and the names templates may use."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jinja2 import TemplateSyntaxError, nodes

from grace.playbooks import CONTEXT_FLAGS, EVENT_FIELDS, TEMPLATE_ROOTS, Templates, is_template


def test_parse_expression_refuses_trailing_text() -> None:
    """An expression followed by anything else is a syntax error (as evaluate would find)."""
    templates = Templates()
    with pytest.raises(TemplateSyntaxError, match="after the end of the expression"):
        templates.parse_expression("a b")
    with pytest.raises(TemplateSyntaxError):
        templates.parse_expression("x) }}{% for y in z %}{{ (y")


def test_parse_value_follows_render() -> None:
    """A whole-value '{{ expr }}' parses as an expression; anything else as a template."""
    templates = Templates()
    whole = templates.parse_value("{{ a | length }}")
    assert [type(n).__name__ for n in whole.find_all(nodes.Filter)] == ["Filter"]
    mixed = templates.parse_value("a {{ b }} c")
    assert [n.data for n in mixed.find_all(nodes.TemplateData)] == ["a ", " c"]
    with pytest.raises(TemplateSyntaxError):
        templates.parse_value("{{ a }")


def test_a_parsed_expression_evaluates_as_checked() -> None:
    """What passes load-time parsing renders at run time."""
    templates = Templates()
    templates.parse_expression("steps.a.outputs.pids | length > 0")
    context = {"steps": {"a": {"outputs": {"pids": [1]}}}}
    assert templates.test("steps.a.outputs.pids | length > 0", context)


def test_is_template() -> None:
    """Only strings with '{{' or '{%' are templates."""
    assert is_template("{{ x }}")
    assert is_template("a {% if x %}b{% endif %}")
    assert not is_template("plain {text}")
    assert not is_template(3)


def test_names_templates_may_use() -> None:
    """Roots, flags and event fields are the documented ones."""
    assert TEMPLATE_ROOTS == ("event", "diagnosis", "vars", "config", "steps", "run", "context")
    assert "in_change_freeze" in CONTEXT_FLAGS
    assert EVENT_FIELDS == (
        "id",
        "time",
        "source",
        "kind",
        "service",
        "severity",
        "message",
        "attributes",
    )


def test_jinja2_is_imported_by_the_first_template_only() -> None:
    """Making Templates and rendering plain values loads no Jinja2 (an idle daemon's memory);
    the first real template does, and renders as always."""
    code = (
        "import sys; from grace.playbooks import Templates; t = Templates(); "
        "assert t.render({'a': ['plain', 1]}, {}) == {'a': ['plain', 1]}; "
        "print('jinja2' in sys.modules, end=' '); "
        "print(t.render('{{ x }} and {{ x }}', {'x': 1}), 'jinja2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False 1 and 1 True"
