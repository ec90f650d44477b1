"""Actions: the side effects playbooks call. Declare one with :func:`action`."""

from __future__ import annotations

from grace.actions._base import ActionContext as ActionContext
from grace.actions._base import ActionDefinition as ActionDefinition
from grace.actions._base import ActionParams as ActionParams
from grace.actions._base import ActionResult as ActionResult
from grace.actions._base import PlaybookLauncher as PlaybookLauncher
from grace.actions._base import Risk as Risk
from grace.actions._base import TicketDesk as TicketDesk
from grace.actions._base import action as action
from grace.actions._base import definition_of as definition_of
from grace.actions._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from grace.actions._registry import ActionRegistry as ActionRegistry
from grace.actions._registry import UnknownAction as UnknownAction
from grace.actions._registry import default_registry as default_registry

__all__ = (
    "ENTRY_POINT_GROUP",
    "ActionContext",
    "ActionDefinition",
    "ActionParams",
    "ActionRegistry",
    "ActionResult",
    "PlaybookLauncher",
    "Risk",
    "TicketDesk",
    "UnknownAction",
    "action",
    "default_registry",
    "definition_of",
)
