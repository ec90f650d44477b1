"""From a parsed body to submitted events: validate them all, then hand each to :class:`Ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grace.api._errors import ApiError
from grace.api.schemas import MAX_BATCH, EventResult, EventsReply
from grace.errors import ConfigError
from grace.events import Event, event_from_dict
from grace.ingest import Ingest

__all__ = ("Submission", "check_bounds", "parse_events", "submit_all")

_MAX_LENGTHS = {"id": 64, "source": 300, "service": 200}
"""The store's column widths: longer values are refused here, not by the database."""
_MAX_KEY = 200
_STRING_FIELDS = ("id", "time", "source", "kind", "service", "severity", "message")
_MAX_DETAILS = 20


@dataclass(frozen=True, slots=True)
class Submission:
    """One validated event and its idempotency key."""

    event: Event
    event_key: str | None = None


def check_bounds(event: Event, event_key: str | None, where: str) -> None:
    """Refuse values longer than the store keeps.

    Raises:
        ConfigError: naming the field, its length and the limit.
    """
    for name, limit in _MAX_LENGTHS.items():
        value = getattr(event, name)
        if len(value) > limit:
            msg = f"{where}.{name}: {len(value)} characters long, at most {limit} allowed"
            raise ConfigError(msg)
    if event_key is not None and len(event_key) > _MAX_KEY:
        msg = f"{where}.event_key: {len(event_key)} characters long, at most {_MAX_KEY} allowed"
        raise ConfigError(msg, hint="use a digest of what identifies the event")


def _parse_one(item: Any, where: str) -> Submission:
    key: Any = None
    data = item
    if isinstance(item, dict) and "event" in item:
        extra = sorted(set(item) - {"event", "event_key"})
        if extra:
            msg = f"{where}: unknown envelope field(s) {', '.join(extra)}"
            raise ConfigError(
                msg, hint='an envelope is exactly {"event": {...}, "event_key": "..."}'
            )
        key = item.get("event_key")
        if key is not None and (not isinstance(key, str) or not key):
            msg = f"{where}.event_key: must be a non-empty string or null, got {key!r}"
            raise ConfigError(msg)
        if key is not None and len(key) > _MAX_KEY:
            msg = f"{where}.event_key: {len(key)} characters long, at most {_MAX_KEY} allowed"
            raise ConfigError(msg, hint="use a digest of what identifies the event")
        data = item["event"]
        where = f"{where}.event"
    if isinstance(data, dict):
        for name in _STRING_FIELDS:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                msg = f"{where}.{name}: must be a string, got {type(value).__name__} {value!r}"
                raise ConfigError(msg)
        data = {"source": "api", **data}
    event = event_from_dict(data, where=where)
    check_bounds(event, None, where)
    return Submission(event, key)


def parse_events(body: Any) -> list[Submission]:
    """Validate a ``POST /api/events`` body: an event, an envelope, or a list of either.

    Every item is checked before anything is submitted, so a bad batch submits nothing.

    Raises:
        ApiError: 422 naming the first faulty field (``body[3].event.kind``), the others in
            ``details``.
    """
    if isinstance(body, list):
        if not body:
            raise ApiError(422, "body: the list holds no events", hint="send at least one event")
        if len(body) > MAX_BATCH:
            msg = f"body: {len(body)} events in one request, at most {MAX_BATCH} allowed"
            raise ApiError(422, msg, hint=f"split them into batches of {MAX_BATCH}")
        items = [(item, f"body[{i}]") for i, item in enumerate(body)]
    else:
        items = [(body, "body")]
    parsed: list[Submission] = []
    problems: list[ConfigError] = []
    for item, where in items:
        try:
            parsed.append(_parse_one(item, where))
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        first = problems[0]
        details = [str(p) for p in problems[1 : _MAX_DETAILS + 1]]
        if len(problems) > _MAX_DETAILS + 1:
            details.append(f"… and {len(problems) - _MAX_DETAILS - 1} more")
        raise ApiError(422, str(first), hint=first.hint, details=details)
    return parsed


async def submit_all(ingest: Ingest, submissions: Sequence[Submission]) -> EventsReply:
    """Submit in order and tally what became of each event."""
    results = []
    many = getattr(ingest, "submit_many", None)
    if many is not None and len(submissions) > 1:
        # One transaction for the whole batch (a burst from a client or a forwarder).
        done_all = await many([(sub.event, sub.event_key) for sub in submissions])
    else:
        done_all = [await ingest.submit(sub.event, event_key=sub.event_key) for sub in submissions]
    for done in done_all:
        reason = done.reason or ("" if done.accepted else "duplicate")
        results.append(EventResult(id=done.event_id, accepted=done.accepted, reason=reason))
    return EventsReply(
        accepted=sum(r.accepted for r in results),
        duplicates=sum(r.reason == "duplicate" for r in results),
        events=results,
    )
