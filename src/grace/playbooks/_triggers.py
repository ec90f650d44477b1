"""Checks of the triggers: regexes compile, cron expressions fire, timezones exist, and each
field is used only by the trigger types that read it."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, get_args

from grace.playbooks._model import TriggerType
from grace.playbooks._report import Report, did_you_mean

__all__ = ("CRON_ALIASES", "check_triggers", "cron_fault")

TRIGGER_TYPES: frozenset[str] = frozenset(get_args(TriggerType))

CRON_ALIASES: tuple[str, ...] = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)
"""Shorthands accepted instead of five fields."""

_CRON_FIELDS: tuple[tuple[str, str], ...] = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-6 or sun-sat"),
)
_CRON_HINT = "five fields: minute hour day-of-month month day-of-week (e.g. '0 * * * *' is hourly)"

_ONLY_FOR: tuple[tuple[str, frozenset[str]], ...] = (
    ("cron", frozenset({"scheduled"})),
    ("metric", frozenset({"metric"})),
    ("threshold", frozenset({"metric"})),
    ("pattern", TRIGGER_TYPES - {"scheduled", "manual"}),
)
"""Fields that only some trigger types read; elsewhere they are mistakes."""


def check_triggers(data: Mapping[str, Any], report: Report) -> tuple[re.Pattern[str] | None, ...]:
    """Check every trigger; return each one's compiled ``pattern`` (None when it has none)."""
    triggers = data.get("triggers")
    if not isinstance(triggers, list):
        return ()
    patterns: list[re.Pattern[str] | None] = []
    for index, trigger in enumerate(triggers):
        path = ("triggers", index)
        if not isinstance(trigger, Mapping):
            patterns.append(None)
            continue
        patterns.append(_pattern(trigger, path, report))
        _consistency(trigger, path, report)
        cron = trigger.get("cron")
        if isinstance(cron, str):
            fault = cron_fault(cron)
            if fault is not None:
                report.add((*path, "cron"), fault, _CRON_HINT)
        timezone = trigger.get("timezone")
        if isinstance(timezone, str):
            _timezone(timezone, (*path, "timezone"), report)
    return tuple(patterns)


def _pattern(
    trigger: Mapping[str, Any], path: tuple[str | int, ...], report: Report
) -> re.Pattern[str] | None:
    pattern = trigger.get("pattern")
    if not isinstance(pattern, str):
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        report.add(
            (*path, "pattern"),
            f"invalid regex '{pattern}': {exc.msg}{where}",
            _regex_hint(exc.msg),
        )
        return None
    except (RecursionError, OverflowError, ValueError) as exc:
        report.add((*path, "pattern"), f"regex '{pattern}' cannot be compiled: {exc}", None)
        return None


_REGEX_HINTS: tuple[tuple[str, str], ...] = (
    ("missing )", "close each '(' with ')', or escape a literal parenthesis as '\\('"),
    ("unbalanced parenthesis", "escape a literal ')' as '\\)', or add the missing '('"),
    ("unterminated character set", "close '[' with ']', or escape a literal '[' as '\\['"),
    ("nothing to repeat", "escape a literal '*', '+' or '?' with a backslash"),
    ("multiple repeat", "escape a literal '*', '+' or '?' with a backslash"),
    ("bad escape", "single-quote the regex in YAML ('\\d+') and use Python 're' escapes"),
)


def _regex_hint(message: str) -> str:
    for needle, hint in _REGEX_HINTS:
        if needle in message:
            return hint
    return "the pattern uses Python 're' syntax; single-quote it in YAML"


def _consistency(trigger: Mapping[str, Any], path: tuple[str | int, ...], report: Report) -> None:
    kind = trigger.get("type")
    if not isinstance(kind, str) or kind not in TRIGGER_TYPES:
        return  # the structural validation already said what types exist
    for key, types in _ONLY_FOR:
        if trigger.get(key) is not None and kind not in types:
            users = ", ".join(sorted(types))
            report.add(
                (*path, key),
                f"'{key}' is not used by {kind} triggers (only by: {users})",
                f"remove '{key}', or change the trigger's type",
                at="key",
            )
    timezone = trigger.get("timezone")
    if timezone not in (None, "UTC") and kind != "scheduled":
        report.add(
            (*path, "timezone"),
            f"'timezone' is not used by {kind} triggers (only by: scheduled)",
            "remove 'timezone', or change the trigger's type",
            at="key",
        )
    if kind == "scheduled" and trigger.get("cron") is None:
        report.add(
            path,
            "a scheduled trigger needs 'cron'",
            "add cron: '0 * * * *' (minute hour day-of-month month day-of-week)",
        )
    if kind == "metric" and trigger.get("metric") is None:
        report.add(path, "a metric trigger needs 'metric' (the metric's name)", "add metric: …")
    if kind == "metric" and trigger.get("threshold") is None:
        report.add(
            path,
            "a metric trigger needs 'threshold' (it fires at or above it)",
            "add threshold: …",
        )


def cron_fault(expression: str) -> str | None:
    """What is wrong with a cron expression, or None when it is fine."""
    text = expression.strip()
    if text.startswith("@"):
        if text in CRON_ALIASES:
            return None
        close = did_you_mean(text, CRON_ALIASES)
        return f"unknown cron shorthand {text!r}" + (f" ({close})" if close else "")
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return (
            f"invalid cron expression {expression!r}: expected {len(_CRON_FIELDS)} fields, "
            f"found {len(fields)}"
        )
    if not _cron_ok(text):
        for index, (name, allowed) in enumerate(_CRON_FIELDS):
            probe = ["*"] * len(_CRON_FIELDS)
            probe[index] = fields[index]
            if not _cron_ok(" ".join(probe)):
                return (
                    f"invalid cron expression {expression!r}: the {name} field "
                    f"{fields[index]!r} is not valid (allowed: {allowed}, '*', lists, ranges, "
                    "steps)"
                )
        return f"invalid cron expression {expression!r}"
    from croniter import CroniterBadDateError, croniter  # here: few playbooks have cron triggers

    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires (no such date)"
    except Exception as exc:  # noqa: BLE001 - croniter raises assorted types on odd input
        return f"invalid cron expression {expression!r}: {exc}"
    return None


def _cron_ok(text: str) -> bool:
    from croniter import croniter

    try:
        croniter(text)
    except Exception:  # noqa: BLE001 - croniter raises assorted types on malformed input
        return False
    return True


def _timezone(name: str, path: tuple[str | int, ...], report: Report) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        return
    close = did_you_mean(name, _zones())
    report.add(
        path,
        f"unknown timezone {name!r}",
        close or "use an IANA timezone name, such as 'UTC' or 'Europe/Paris'",
    )


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
