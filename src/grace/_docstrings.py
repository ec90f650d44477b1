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

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ("DOCUMENTED", "describe_fields", "field_docs")


@functools.cache
def field_docs(cls: type[BaseModel]) -> dict[str, str]:
    """``{field name: docstring}`` for ``cls`` and its model bases (a subclass's own wins)."""
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is BaseModel or not (isinstance(klass, type) and issubclass(klass, BaseModel)):
            continue
        if "__pydantic_generic_metadata__" in vars(
            klass
        ) and klass.__pydantic_generic_metadata__.get("origin"):
            continue  # a parametrised generic: its source is its origin's
        docs.update(extract_docstrings_from_cls(klass, use_inspect=True))
    return docs


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
