"""``explain``: for one trigger and one event, every check in words, and whether it nearly fired."""

from __future__ import annotations

import re

from grace.events import Event
from grace.matching._filters import Check, checks
from grace.matching._match import Explanation
from grace.matching._trigger import Trigger

__all__ = ("explain_trigger",)

_EXCERPT = 80


def explain_trigger(trigger: Trigger, event: Event, pattern: re.Pattern[str] | None) -> Explanation:
    """Explain ``trigger`` against ``event``; ``pattern`` is its compiled ``re`` (None if none).

    A matched trigger lists the checks that passed; an unmatched one lists those that failed.
    It is a near miss when exactly one check failed.
    """
    found = checks(trigger, event)
    if pattern is not None:
        found.append(_pattern_check(pattern, event.message))
    failed = tuple(reason for ok, reason in found if not ok)
    if not failed:
        return Explanation(
            trigger=trigger,
            matched=True,
            reasons=tuple(reason for _, reason in found),
            near_miss=False,
        )
    return Explanation(trigger=trigger, matched=False, reasons=failed, near_miss=len(failed) == 1)


def _pattern_check(pattern: re.Pattern[str], message: str) -> Check:
    found = pattern.search(message)
    if found is not None:
        captures = {k: v for k, v in found.groupdict().items() if v is not None}
        listed = ", ".join(f"{k}={v!r}" for k, v in sorted(captures.items()))
        return (
            True,
            f"pattern '{pattern.pattern}' matched {found.group(0)!r}"
            + (f" (captures {listed})" if listed else ""),
        )
    excerpt = message if len(message) <= _EXCERPT else message[: _EXCERPT - 1] + "…"
    return (
        False,
        f"pattern '{pattern.pattern}' did not match the message {excerpt!r}"
        + _almost(pattern, message),
    )


def _almost(pattern: re.Pattern[str], message: str) -> str:
    """What small difference would have let the pattern match, if any."""
    caseless = re.compile(pattern.pattern, pattern.flags | re.IGNORECASE)
    if caseless.search(message):
        return ", but it matches ignoring case"
    spaced = " ".join(message.split())
    if pattern.search(spaced):
        return ", but it matches with whitespace normalised (runs of blanks as one space)"
    if caseless.search(spaced):
        return ", but it matches ignoring case with whitespace normalised"
    return ""
