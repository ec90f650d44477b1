"""The grace.logs facade: a tuple __all__ whose every name resolves and is documented."""

from __future__ import annotations

import inspect

import grace.logs


def test_all_is_a_tuple_of_existing_names() -> None:
    """__all__ is a tuple, has no duplicates, and every name is importable."""
    assert isinstance(grace.logs.__all__, tuple)
    assert len(set(grace.logs.__all__)) == len(grace.logs.__all__)
    for name in grace.logs.__all__:
        assert hasattr(grace.logs, name), name


def test_public_callables_are_documented() -> None:
    """Every exported function and class has a docstring."""
    for name in grace.logs.__all__:
        obj = getattr(grace.logs, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"grace.logs.{name} has no docstring"
