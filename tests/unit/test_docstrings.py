"""grace._docstrings: field docstrings read on demand match what pydantic's
``use_attribute_docstrings`` read at class creation, and reach JSON schemas and hints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

from grace._docstrings import DOCUMENTED, field_docs
from grace.actions import default_registry
from grace.boot import BootConfig
from grace.governance._config import GovernanceConfig
from grace.playbooks._model import PlaybookSpec, StepSpec, TriggerSpec
from grace.watchdog._config import WatchdogConfig


class Base(BaseModel):
    model_config = ConfigDict(**DOCUMENTED, extra="forbid")

    shared: int = 0
    """From the base."""
    overridden: int = 0
    """The base's words."""


class Child(Base):
    overridden: int = 1
    """The child's words."""
    plain: int = 2
    undocumented_then_string: int = 3

    class Inner(BaseModel):
        model_config = ConfigDict(**DOCUMENTED)

        deep: str = ""
        """Nested classes are found by their qualified name."""


def pydantic_docs(cls: type[BaseModel]) -> dict[str, str]:
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            found.update(extract_docstrings_from_cls(klass, use_inspect=True))
    return found


def test_the_same_docstrings_as_pydantic_for_every_documented_model() -> None:
    """field_docs equals pydantic's own extraction for every documented model, every action's parameters included."""
    models: list[type[BaseModel]] = [
        PlaybookSpec,
        StepSpec,
        TriggerSpec,
        BootConfig,
        GovernanceConfig,
        WatchdogConfig,
        Child,
        Child.Inner,
    ]
    models += [d.params for d in default_registry()]
    assert len(models) > 40
    for model in models:
        assert field_docs(model) == pydantic_docs(model), model


def test_inheritance_and_nesting() -> None:
    """A subclass inherits its bases' docstrings and overrides them; nested classes are found by qualified name."""
    assert field_docs(Child) == {
        "shared": "From the base.",
        "overridden": "The child's words.",
    }
    assert field_docs(Child.Inner) == {"deep": "Nested classes are found by their qualified name."}


def test_json_schema_gets_the_docstrings_and_aliases_are_honoured() -> None:
    """JSON schemas carry the docstrings as descriptions, under the alias when there is one."""
    props = Child.model_json_schema()["properties"]
    assert props["shared"]["description"] == "From the base."
    assert props["overridden"]["description"] == "The child's words."
    assert "description" not in props["plain"]
    step = PlaybookSpec.model_json_schema(by_alias=True)["$defs"]["StepSpec"]["properties"]
    assert step["with"]["description"].startswith("Parameters, validated")


def test_no_model_reads_docstrings_at_class_creation() -> None:
    """The whole point: field descriptions stay empty until asked for."""
    assert StepSpec.model_fields["action"].description is None
