"""Grace: an autonomous recovery engine.

The facade is lazy (PEP 562): ``import grace.sdk`` inside an application, or ``grace validate``,
loads only what it uses. ``from grace import Engine`` still works.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grace.actions import ActionContext as ActionContext
    from grace.actions import ActionParams as ActionParams
    from grace.actions import ActionResult as ActionResult
    from grace.actions import action as action
    from grace.config import Settings as Settings
    from grace.engine import Engine as Engine
    from grace.errors import ActionError as ActionError
    from grace.errors import GraceError as GraceError
    from grace.errors import PlaybookError as PlaybookError
    from grace.events import Event as Event
    from grace.runs import Run as Run
    from grace.runs import RunStatus as RunStatus

__version__ = "0.1.0"

_WHERE = {
    "ActionContext": "grace.actions",
    "ActionError": "grace.errors",
    "ActionParams": "grace.actions",
    "ActionResult": "grace.actions",
    "Engine": "grace.engine",
    "Event": "grace.events",
    "GraceError": "grace.errors",
    "PlaybookError": "grace.errors",
    "Run": "grace.runs",
    "RunStatus": "grace.runs",
    "Settings": "grace.config",
    "action": "grace.actions",
}

__all__ = (
    "ActionContext",
    "ActionError",
    "ActionParams",
    "ActionResult",
    "Engine",
    "Event",
    "GraceError",
    "PlaybookError",
    "Run",
    "RunStatus",
    "Settings",
    "action",
)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'grace' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
