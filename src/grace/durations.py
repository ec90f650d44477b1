"""Durations as people write them: ``30``, ``"5m"``, ``"1h30m"``, ``"500ms"``, ``"5 minutes"``.

One parser for every place a length of time is configured (playbook throttles, silences given
``--for 2h``), so the same spelling works everywhere. Values are seconds as a float. Parsing is
exact: the parts are summed as fractions and rounded once, so ``"1m30s"`` is exactly ``90.0``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from fractions import Fraction
from typing import Annotated, NoReturn

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ("ACCEPTED_FORMS", "MAX_SECONDS", "Duration", "format_duration", "parse_duration")

ACCEPTED_FORMS = (
    "seconds as a number (30, 1.5, '30'), "
    "a number and a unit: ms, s, m, h, d, w ('500ms', '30s', '5m', '2h', '1d', '1w'), "
    "units combined from largest to smallest ('1h30m', '2d 4h'), "
    "or words ('30 seconds', '5 minutes', '1 hour', '2 days', '1 week')"
)
"""Shown in every parse error, so a wrong value is fixed on the first try."""

_UNIT_NAMES: tuple[tuple[tuple[str, ...], Fraction], ...] = (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), Fraction(1, 1000)),
    (("s", "sec", "secs", "second", "seconds"), Fraction(1)),
    (("m", "min", "mins", "minute", "minutes"), Fraction(60)),
    (("h", "hr", "hrs", "hour", "hours"), Fraction(3_600)),
    (("d", "day", "days"), Fraction(86_400)),
    (("w", "wk", "wks", "week", "weeks"), Fraction(604_800)),
)
_UNITS = {name: size for names, size in _UNIT_NAMES for name in names}

MAX_SECONDS = timedelta.max.days * 86_400 + timedelta.max.seconds
"""The longest duration accepted (``timedelta``'s limit), so every value converts to one."""

_MAX_TEXT = 64
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"{_NUMBER}")
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*")

# format_duration's units, largest first, in whole milliseconds.
_FORMAT_UNITS = (
    ("w", 604_800_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)


def _fail(what: str, where: str) -> NoReturn:
    prefix = f"{where}: " if where else ""
    msg = f"{prefix}{what}; accepted forms: {ACCEPTED_FORMS}"
    raise ValueError(msg)


def _parse_text(text: str, where: str) -> float:
    body = text.strip().lower()
    if len(body) > _MAX_TEXT:
        _fail(f"invalid duration {text[:_MAX_TEXT]!r}…: longer than {_MAX_TEXT} characters", where)
    shown = repr(text)
    if not body:
        _fail("empty duration", where)
    if body.startswith("-"):
        _fail(f"negative duration {shown}: a duration is zero or more", where)
    if _PLAIN.fullmatch(body):
        return _finite(Fraction(body), shown, where)
    total = Fraction(0)
    pos = 0
    previous: tuple[str, Fraction] | None = None
    while pos < len(body):
        part = _PART.match(body, pos)
        if part is None:
            rest = body[pos:].strip()
            what = f"{rest!r} has no unit" if _PLAIN.fullmatch(rest) else f"cannot read {rest!r}"
            _fail(f"invalid duration {shown}: {what}", where)
        number, unit = part.group(1), part.group(2)
        size = _UNITS.get(unit)
        if size is None:
            _fail(f"invalid duration {shown}: unknown unit {unit!r}", where)
        if previous is not None and size >= previous[1]:
            _fail(
                f"invalid duration {shown}: {unit!r} after {previous[0]!r}; "
                "give each unit once, largest first",
                where,
            )
        total += Fraction(number) * size
        previous = (unit, size)
        pos = part.end()
    return _finite(total, shown, where)


def _finite(total: Fraction, shown: str, where: str) -> float:
    if total > MAX_SECONDS:
        _fail(f"duration {shown} is too large: at most {MAX_SECONDS:.0f} seconds", where)
    return float(total)


def parse_duration(value: object, *, where: str = "") -> float:
    """Seconds in ``value``: a number of seconds (≥ 0) or a duration string.

    Accepted: ``30``, ``1.5``, ``"30"``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``,
    ``"1w"``, combinations from the largest unit to the smallest (``"1h30m"``, ``"2d 4h"``), and
    words, singular or plural (``"30 seconds"``, ``"5 minutes"``, ``"1 hour"``, ``"2 days"``).
    Case and surrounding blanks do not matter.

    Raises:
        ValueError: ``value`` is not a duration; the message says what was wrong, starts with
            ``where`` when that is given (``"playbook.yaml:12 throttle.once_within"``), and
            lists the accepted forms.
    """
    if isinstance(value, bool):
        _fail(f"invalid duration {value!r}: a boolean is not a duration", where)
    if isinstance(value, int | float):
        if math.isnan(value) or math.isinf(value):
            _fail(f"invalid duration {value!r}: not a finite number", where)
        if value < 0:
            _fail(f"negative duration {value!r}: a duration is zero or more", where)
        return _finite(Fraction(value), repr(value), where)
    if isinstance(value, str):
        return _parse_text(value, where)
    _fail(
        f"invalid duration {value!r}: expected a number or a string, got {type(value).__name__}",
        where,
    )


def format_duration(seconds: float) -> str:
    """``seconds`` written the short way: ``"45s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``.

    Rounded to the nearest millisecond; zero is ``"0s"``. :func:`parse_duration` reads the
    result back to the same value for every whole number of milliseconds.

    Raises:
        ValueError: ``seconds`` is negative or not finite.
    """
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        msg = f"cannot format {seconds!r} as a duration: expected seconds ≥ 0"
        raise ValueError(msg)
    left = round(Fraction(seconds) * 1000)
    if left == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _FORMAT_UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validate(value: object) -> float:
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "examples": ["30s", "5m", "1h30m", "5 minutes"]},
            ],
            "description": f"A duration: {ACCEPTED_FORMS}.",
        }
    ),
]
"""A pydantic field type: seconds as a float, written any way :func:`parse_duration` reads.

A bad value is an ordinary pydantic validation error carrying the parser's message.
"""
