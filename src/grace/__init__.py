"""Grace: an autonomous recovery engine.

The facade stays light to import (``grace validate`` must not load the database layer):
:class:`Engine` is resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grace.actions import ActionContext as ActionContext
from grace.actions import ActionParams as ActionParams
from grace.actions import ActionResult as ActionResult
from grace.actions import action as action
from grace.config import Settings as Settings
from grace.errors import ActionError as ActionError
from grace.errors import GraceError as GraceError
from grace.errors import PlaybookError as PlaybookError
from grace.events import Event as Event
from grace.runs import Run as Run
from grace.runs import RunStatus as RunStatus

if TYPE_CHECKING:
    from grace.engine import Engine as Engine

__version__ = "0.1.0"

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
    if name == "Engine":
        from grace.engine import Engine

        return Engine
    msg = f"module 'grace' has no attribute {name!r}"
    raise AttributeError(msg)
