"""Field descriptions from attribute docstrings, read when they are asked for, not at import.

Grace documents every model field with a docstring under it. pydantic's
``use_attribute_docstrings`` reads those docstrings when each class is created, by walking the
interpreter's frames and re-reading the module's source (on Python < 3.13): ~2 ms a class,
~0.15 s of every ``grace serve`` start for text that only JSON schemas and error hints show.
Models instead take :data:`DOCUMENTED` as their config (or merge it): the docstrings are read
the first time a JSON schema is generated (:func:`describe_fields`, pydantic's
``json_schema_extra`` hook) or a hint needs one (:func:`field_docs`), and cached.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ("DOCUMENTED", "describe_fields", "field_docs")


@functools.cache
def field_docs(cls: type[BaseModel]) -> dict[str, str]:
    """``{field name: docstring}`` for ``cls`` and its model bases (a subclass's own wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is BaseModel or not (isinstance(klass, type) and issubclass(klass, BaseModel)):
            continue
        docs.update(_own_docs(klass.__module__, klass.__qualname__))
    return docs


def _own_docs(module: str, qualname: str) -> dict[str, str]:
    node = _classes(module).get(qualname)
    if node is None:
        return {}
    docs: dict[str, str] = {}
    # An annotated attribute followed by a string: the string documents it (what pydantic's
    # use_attribute_docstrings reads).
    for first, second in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(first, ast.AnnAssign)
            and isinstance(first.target, ast.Name)
            and isinstance(second, ast.Expr)
            and isinstance(second.value, ast.Constant)
            and isinstance(second.value.value, str)
        ):
            docs[first.target.id] = inspect.cleandoc(second.value.value)
    return docs


@functools.cache
def _classes(module: str) -> dict[str, ast.ClassDef]:
    """Every class statement of a module's source by qualified name (one parse per module)."""
    found: dict[str, ast.ClassDef] = {}
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (KeyError, OSError, TypeError, SyntaxError):
        return found

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                name = prefix + stmt.name
                found.setdefault(name, stmt)
                walk(stmt.body, name + ".")

    walk(tree.body, "")
    return found


def describe_fields(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """``json_schema_extra``: give each property of ``cls`` without a description its docstring."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    docs = field_docs(cls)
    for name, info in cls.model_fields.items():
        text = info.description or docs.get(name)
        if not text:
            continue
        for key in {name, info.alias or name}:
            prop = properties.get(key)
            if isinstance(prop, dict) and "description" not in prop:
                prop["description"] = text


DOCUMENTED = ConfigDict(json_schema_extra=describe_fields)
"""The config of a model documented by attribute docstrings (merge it: ``ConfigDict(**DOCUMENTED,
extra="forbid")``)."""
