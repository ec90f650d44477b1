"""``log``: write a line to Grace's structured log, bound to the run and step."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams

__all__ = ("LogParams", "emit", "write_log")

_METHODS = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "critical": "critical",
}


def emit(logger: Any, level: str, message: str, **fields: Any) -> None:
    """Log ``message`` at ``level`` through a structlog-like logger; a None logger is a no-op.

    ``level`` is case-insensitive (``WARN`` means ``warning``). A logger without a method for
    the level (``critical`` on a minimal logger) falls back to ``error``, then ``info``.
    """
    if logger is None:
        return
    name = _METHODS.get(level.lower(), "info")
    for candidate in (name, "error" if name == "critical" else name, "info"):
        method = getattr(logger, candidate, None)
        if callable(method):
            method(message, **fields)
            return


class LogParams(BuiltinParams):
    """Parameters of ``log``."""

    message: str = Field(min_length=1, max_length=10_000)
    """The line to log (1 to 10,000 characters)."""
    level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "INFO"
    """DEBUG, INFO, WARN or ERROR."""


@action(
    "log",
    params=LogParams,
    risk="low",
    idempotent=True,
    describe=lambda p: f"would log at {p.level}: {p.message}",
)
async def write_log(ctx: ActionContext, params: LogParams) -> ActionResult:
    """Write a message to Grace's log at a level (DEBUG, INFO, WARN or ERROR)."""
    emit(ctx.logger, params.level, params.message)
    return ActionResult(ok=True, summary=f"{params.level}: {params.message[:200]}", changed=False)
