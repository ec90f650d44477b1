"""``playbook.schedule``: run a playbook later (``playbook.run``, at a time to come).

The timer is a row in Grace's store (``grace.store._timers``), so it survives a restart of
``grace serve``; when it is due, serve's pipeline asks the engine for a run of the playbook with
these vars, governed like any request (the emergency stop, a disabled playbook, the policy and
the change window apply), exactly once. A timer with the same ``key`` replaces one not fired
yet, so re-scheduling moves a timer instead of adding a second one.

When: ``after_s`` seconds from now when given, else the next fire of ``cron`` in ``timezone``
(e.g. Google's daily quota resets at midnight Pacific time: ``cron: '0 0 * * *'``,
``timezone: America/Los_Angeles``), else the instant ``at``.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from pydantic import Field, field_validator, model_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, Seconds
from grace.errors import ActionError, GraceError

__all__ = ("PlaybookScheduleParams", "schedule_playbook")

MAX_DELAY_S = 31 * 24 * 3600
"""The furthest a timer may be set: 31 days."""


class PlaybookScheduleParams(BuiltinParams):
    """Parameters of ``playbook.schedule``."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=200)
    """The playbook to run (its ``name:``)."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Values the run sees as ``vars.<key>``."""
    after_s: Seconds | None = Field(default=None, gt=0, le=MAX_DELAY_S)
    """Run it this many seconds from now (wins over ``cron`` and ``at``)."""
    cron: str | None = Field(default=None, max_length=200)
    """Else: at the next fire of this five-field cron expression, read in ``timezone``."""
    timezone: str = Field(default="UTC", max_length=100)
    """The IANA timezone ``cron`` is read in."""
    at: datetime | None = None
    """Else: at this instant (ISO 8601 with an offset, like ``2026-11-23T08:00:00Z``)."""
    key: str = Field(default="", max_length=90, pattern=r"^[A-Za-z0-9_.:@-]*$")
    """Names the timer: a new one with the same key replaces it. Default ``<name>:<service>``."""
    database_url: str | None = None
    """The store ``grace serve`` runs on; default the engine's own store."""

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if not croniter.is_valid(value):
            msg = f"invalid cron expression {value!r} (minute hour day-of-month month day-of-week)"
            raise ValueError(msg)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            msg = f"unknown timezone {value!r}: use an IANA name such as 'UTC' or 'America/Los_Angeles'"
            raise ValueError(msg) from None
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            msg = "'at' needs an offset (like 2026-11-23T08:00:00Z): a bare local time is ambiguous"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _when(self) -> PlaybookScheduleParams:
        if self.after_s is None and self.cron is None and self.at is None:
            msg = "say when: give after_s (seconds from now), cron (+ timezone) or at (an instant)"
            raise ValueError(msg)
        return self


def due_time(params: PlaybookScheduleParams, now: datetime) -> datetime:
    """When the timer fires, by the rule in the module docstring.

    Raises:
        ActionError: the time is in the past or further than :data:`MAX_DELAY_S`.
    """
    if params.after_s is not None:
        due = now + timedelta(seconds=params.after_s)
    elif params.cron is not None:
        from grace.sources.builtin.schedule import CronJob, next_slot

        job = CronJob("timer", params.cron, zoneinfo.ZoneInfo(params.timezone))
        due = next_slot(job, now)
    else:
        assert params.at is not None
        due = params.at.astimezone(UTC)
    if due <= now:
        msg = f"the timer's time {due.isoformat()} is not in the future (now {now.isoformat()})"
        raise ActionError(msg, retryable=False, type="TimeInPast")
    if due - now > timedelta(seconds=MAX_DELAY_S):
        msg = f"the timer's time {due.isoformat()} is more than 31 days away"
        raise ActionError(msg, retryable=False, type="TimeTooFar")
    return due


def _describe(p: PlaybookScheduleParams) -> str:
    if p.after_s is not None:
        when = f"in {p.after_s:g}s"
    elif p.cron is not None:
        when = f"at the next {p.cron!r} in {p.timezone}"
    else:
        when = f"at {p.at.isoformat() if p.at else '?'}"
    shown = f" with vars {', '.join(sorted(p.vars))}" if p.vars else ""
    return f"would schedule playbook {p.name!r}{shown} {when} (grace serve starts it then)"


@action(
    "playbook.schedule",
    params=PlaybookScheduleParams,
    risk="medium",
    idempotent=True,
    outputs=("timer_id", "key", "due_at", "replaced"),
    describe=_describe,
)
async def schedule_playbook(ctx: ActionContext, params: PlaybookScheduleParams) -> ActionResult:
    """Schedule a run of a playbook for later (a durable timer that grace serve fires once)."""
    from grace.store import open_store
    from grace.store._timers import Timers

    now = ctx.clock.now().astimezone(UTC)
    due = due_time(params, now)
    key = params.key or f"{params.name}:{ctx.service or '-'}"
    try:
        store = await anyio.to_thread.run_sync(
            lambda: open_store(ctx.store_url(params.database_url), clock=ctx.clock)
        )
    except GraceError as exc:
        msg = f"playbook.schedule cannot open Grace's store: {exc}"
        raise ActionError(msg, retryable=True, type="StoreUnavailable") from exc
    try:
        timer, replaced = await anyio.to_thread.run_sync(
            lambda: Timers(store).schedule(
                key,
                playbook=params.name,
                vars=dict(params.vars),
                due_at=due,
                by=f"run:{ctx.run_id}",
                parent_run_id=ctx.run_id or None,
                reason=f"run {ctx.run_id} step {ctx.step}",
            )
        )
    except ValueError as exc:
        raise ActionError(str(exc), retryable=False, type="TimerRefused") from exc
    except GraceError as exc:
        msg = f"playbook.schedule could not store the timer: {exc}"
        raise ActionError(msg, retryable=True, type="StoreUnavailable") from exc
    finally:
        await anyio.to_thread.run_sync(store.close)
    outputs = {
        "timer_id": timer["id"],
        "key": key,
        "due_at": timer["due_at"],
        "replaced": replaced["id"] if replaced else None,
    }
    moved = f" (replaces {replaced['id']} due {replaced['due_at']})" if replaced else ""
    return ActionResult(
        ok=True,
        summary=f"scheduled {params.name} at {timer['due_at']} as timer {key}{moved}",
        outputs=outputs,
    )
