"""The public surface of grace.audit."""

from __future__ import annotations

import grace.audit


def test_all_is_a_tuple_of_real_names() -> None:
    """__all__ is a tuple without repeats, and every name in it exists."""
    names = grace.audit.__all__
    assert isinstance(names, tuple)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(grace.audit, name), name
