"""The action contract: a decorated async function with a typed parameter model."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from grace.errors import PluginError

if TYPE_CHECKING:
    from grace.runs import Ticket
    from grace.types import Clock

__all__ = (
    "ActionContext",
    "ActionDefinition",
    "ActionParams",
    "ActionResult",
    "PlaybookLauncher",
    "Risk",
    "TicketDesk",
    "action",
    "definition_of",
)

Risk = Literal["low", "medium", "high", "critical"]


class ActionParams(BaseModel):
    """Base for every action's parameter model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action reports back to the runner."""

    ok: bool = True
    """False when the action ran but the thing it checks is not right (the step fails)."""
    summary: str = ""
    """One line for the timeline and the audit log."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Values later steps can use as ``steps.<name>.outputs.<key>``."""
    changed: bool = True
    """False when the action found nothing to do (an idempotent no-op)."""


class TicketDesk(Protocol):
    """Where ``ticket.open`` files work orders (the store, in the engine)."""

    def open_ticket(
        self,
        *,
        title: str,
        body: str,
        severity: str,
        service: str,
        run_id: str | None,
        context: Mapping[str, Any],
    ) -> Ticket:
        """Persist a ticket and return it."""


class PlaybookLauncher(Protocol):
    """How ``playbook.run`` starts a child run without importing the runner."""

    async def run_playbook(
        self, name: str, *, vars: Mapping[str, Any], parent_run_id: str, wait: bool
    ) -> tuple[str, str]:
        """Start playbook ``name``; return ``(run_id, status)`` (final status when ``wait``)."""


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Everything an action may use. Actions never import the runner or the store."""

    run_id: str
    step: str
    attempt: int
    clock: Clock
    data_dir: Path
    """Grace's data dir (backups live under ``data_dir/backups``)."""
    service: str = ""
    dry_run: bool = False
    backup_keep: int = 10
    backup: bool = True
    """Take a backup before a destructive change.

    False only when the step says ``backup: false``.
    """
    tickets: TicketDesk | None = None
    launcher: PlaybookLauncher | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for child processes, on top of Grace's own."""
    logger: Any = None
    """A structlog logger bound to the run and step."""
    database_url: str = ""
    """The URL of the store Grace runs on ("" outside an engine): for actions that open it."""

    def store_url(self, override: str | None = None) -> str:
        """``override``, else the engine's store, else the data dir's SQLite file."""
        return (
            override or self.database_url or f"sqlite:///{(self.data_dir / 'grace.db').as_posix()}"
        )


P = TypeVar("P", bound=ActionParams)
ActionFn = Callable[[ActionContext, Any], Awaitable[ActionResult]]


@dataclass(frozen=True, slots=True)
class ActionDefinition:
    """One registered action. The declaration is the registry entry, the schema and the docs."""

    name: str
    fn: ActionFn
    params: type[ActionParams]
    risk: Risk = "low"
    idempotent: bool = False
    """Safe to run again after a crash left it ``started`` without an outcome."""
    destructive: bool = False
    """Deletes or overwrites: the step must take a backup first or say ``backup: false``."""
    outputs: tuple[str, ...] = ()
    """Keys this action puts in ``ActionResult.outputs`` (checked at load time)."""
    description: str = ""
    describe: Callable[[Any], str] | None = None
    """How it dry-runs: a sentence saying what it would do with these params."""

    def plan(self, params: ActionParams) -> str:
        """The dry-run sentence for these params."""
        if self.describe is not None:
            return self.describe(params)
        shown = ", ".join(f"{k}={v!r}" for k, v in params.model_dump().items())
        return f"would call {self.name}({shown})"


_ATTR = "__grace_action__"


def action(
    name: str,
    *,
    params: type[P],
    risk: Risk = "low",
    idempotent: bool = False,
    destructive: bool = False,
    outputs: tuple[str, ...] = (),
    describe: Callable[[P], str] | None = None,
) -> Callable[
    [Callable[[ActionContext, P], Awaitable[ActionResult]]],
    Callable[[ActionContext, P], Awaitable[ActionResult]],
]:
    """Declare an action. Validated at import: a wrong declaration fails loudly, not at 3 a.m.

    Example::

        class RestartParams(ActionParams):
            service: str

        @action("service.restart", params=RestartParams, risk="medium")
        async def restart(ctx: ActionContext, params: RestartParams) -> ActionResult:
            ...
    """
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*", name):
        msg = f"action name {name!r} must be dotted lower_snake_case, like 'service.restart'"
        raise PluginError(msg)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        msg = f"action {name!r}: params= must be a pydantic model class (subclass grace.actions.ActionParams)"
        raise PluginError(msg)

    def decorate(
        fn: Callable[[ActionContext, P], Awaitable[ActionResult]],
    ) -> Callable[[ActionContext, P], Awaitable[ActionResult]]:
        if not inspect.iscoroutinefunction(fn):
            msg = f"action {name!r}: {fn.__qualname__} must be 'async def fn(ctx, params)'"
            raise PluginError(msg)
        if len(inspect.signature(fn).parameters) != 2:
            msg = f"action {name!r}: {fn.__qualname__} must take exactly (ctx, params)"
            raise PluginError(msg)
        defn = ActionDefinition(
            name=name,
            fn=fn,
            params=params,
            risk=risk,
            idempotent=idempotent,
            destructive=destructive,
            outputs=tuple(outputs),
            description=inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0],
            describe=describe,
        )
        setattr(fn, _ATTR, defn)
        return fn

    return decorate


def definition_of(obj: object) -> ActionDefinition | None:
    """The definition attached by :func:`action`, or None."""
    defn = getattr(obj, _ATTR, None)
    return defn if isinstance(defn, ActionDefinition) else None
