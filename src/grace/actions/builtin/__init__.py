"""Grace's built-in actions, one module per concept.

Every public module of this package (a name without a leading underscore) is registered by
``grace.actions.default_registry``: adding a built-in action is adding a module, with no list
to keep in step. The engine's registry imports a module only when one of its actions is first
needed. Reference: ``docs/actions.md``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ("module_names", "modules")


def module_names() -> list[str]:
    """The full names of this package's public modules, in name order, without importing them."""
    return [
        f"{__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def modules() -> list[ModuleType]:
    """The public modules of this package, imported, in name order."""
    return [importlib.import_module(name) for name in module_names()]
