"""Grace's built-in actions, one module per concept.

Every public module of this package (a name without a leading underscore) is loaded by
``grace.actions.default_registry`` and its decorated ``@action`` functions registered: adding a
built-in action is adding a module, with no list to keep in step. Reference: ``docs/actions.md``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ("modules",)


def modules() -> list[ModuleType]:
    """The public modules of this package, imported, in name order."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]
