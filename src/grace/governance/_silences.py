"""Silences, the Alertmanager way: label matchers over a diagnosis, active between two times.

A silence mutes every diagnosis whose labels (:func:`diagnosis_labels`) all its matchers match,
from ``starts_at`` (inclusive) to ``ends_at`` (exclusive). The governor records a silenced
diagnosis as ``suppressed`` with the silence's id; the silences themselves live in rows.

Matchers read and print as Alertmanager's do: ``service=api``, ``severity!=info``,
``playbook=~"restart_.*"``, ``alertname!~"Watchdog|InfoInhibitor"``. Regexes are fully anchored
(``=~"api"`` does not match ``api-gateway``) and a missing label is the empty string.

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, NoReturn, TypeAlias

__all__ = (
    "MATCHER_SYNTAX",
    "LabelMatcher",
    "MatchOp",
    "Silence",
    "SilenceState",
    "diagnosis_labels",
    "new_silence",
    "parse_matcher",
    "silencing",
)

MatchOp: TypeAlias = Literal["=", "!=", "=~", "!~"]
SilenceState: TypeAlias = Literal["pending", "active", "expired"]

MATCHER_SYNTAX = (
    "NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX, e.g. 'service=api', "
    "'severity!=info', 'playbook=~\"restart_.*\"'; NAME is [a-zA-Z_][a-zA-Z0-9_]*, "
    "the value may be double-quoted (JSON escapes), a regex must match the whole value"
)
"""Shown in every matcher error."""

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_OPS: tuple[MatchOp, ...] = ("=", "!=", "=~", "!~")


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """One condition on one label: equal, not equal, regex match, regex non-match."""

    name: str
    """The label's name (``service``, ``playbook``, ``alertname``…)."""
    op: MatchOp
    """``=``, ``!=``, ``=~`` or ``!~``."""
    value: str
    """The value, or for ``=~`` and ``!~`` a regex matched against the whole label value."""
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            msg = f"invalid label name {self.name!r}: expected [a-zA-Z_][a-zA-Z0-9_]*"
            raise ValueError(msg)
        if self.op not in _OPS:
            msg = f"invalid matcher operator {self.op!r}: expected one of = != =~ !~"
            raise ValueError(msg)
        problem = _regex_problem(self.op, self.value)
        if problem is not None:
            msg = f"label {self.name!r}: {problem}"
            raise ValueError(msg)
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", re.compile(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label counts as ``""``)."""
        actual = labels.get(self.name, "")
        if self._regex is not None:
            found = self._regex.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) if self.op == "=" else (actual != self.value)

    def __str__(self) -> str:
        """Alertmanager's form, value always quoted: ``service=~"api|web"``."""
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def parse_matcher(text: str) -> LabelMatcher:
    """Read one matcher: ``service=api``, ``severity!=info``, ``playbook=~"restart_.*"``.

    Blanks around the name, the operator and the value are ignored. A double-quoted value is a
    JSON string (so ``\\"`` and ``\\\\`` escape); an unquoted value is taken as written.

    Raises:
        ValueError: not a matcher, a bad label name, a bad quoted value or a bad regex; the
            message names ``text`` and shows the syntax.
    """
    if not isinstance(text, str):
        _bad_matcher(text, "expected a string")
    op_at = _OP.search(text)
    if op_at is None:
        _bad_matcher(text, "no operator (=, !=, =~ or !~)")
    name = text[: op_at.start()].strip()
    op: MatchOp = op_at.group()  # type: ignore[assignment]  # the regex only finds _OPS
    value = text[op_at.end() :].strip()
    if not name:
        _bad_matcher(text, "no label name before the operator")
    if not _NAME.fullmatch(name):
        _bad_matcher(text, f"invalid label name {name!r}")
    if value.startswith('"'):
        value = _unquote(text, value)
    problem = _regex_problem(op, value)
    if problem is not None:
        _bad_matcher(text, problem)
    return LabelMatcher(name, op, value)


def _regex_problem(op: MatchOp, value: str) -> str | None:
    if op not in ("=~", "!~"):
        return None
    try:
        re.compile(value)
    except re.error as exc:
        return f"invalid regex {value!r}: {exc}"
    return None


def _unquote(text: str, quoted: str) -> str:
    try:
        decoded = json.loads(quoted)
    except json.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, str):
        _bad_matcher(text, f'malformed quoted value {quoted} (close the quote; escape \\" inside)')
    return decoded


def _bad_matcher(text: object, what: str) -> NoReturn:
    msg = f"invalid matcher {text!r}: {what}; syntax: {MATCHER_SYNTAX}"
    raise ValueError(msg)


def _require_aware(value: object, what: str) -> None:
    if not isinstance(value, datetime):
        msg = f"{what} must be a datetime, got {value!r}"
        raise TypeError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{what} must be timezone-aware, got {value.isoformat()} (add a UTC offset)"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Silence:
    """Mutes every diagnosis whose labels all ``matchers`` match, in ``[starts_at, ends_at)``.

    Construction checks the invariants (at least one matcher, one of which needs a non-empty
    label; aware datetimes; ``ends_at`` not before ``starts_at``; an author and a comment).
    Create new silences with :func:`new_silence`, which also refuses an empty time range.
    """

    id: str
    matchers: tuple[LabelMatcher, ...]
    """All must match (an AND, as in Alertmanager)."""
    starts_at: datetime
    ends_at: datetime
    author: str
    """Who silenced (Alertmanager's ``createdBy``)."""
    comment: str
    """Why; shown with every diagnosis this silence mutes."""
    created_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            msg = "a silence needs a non-empty id"
            raise ValueError(msg)
        if not isinstance(self.matchers, tuple):
            object.__setattr__(self, "matchers", tuple(self.matchers))
        if not self.matchers:
            msg = f"silence {self.id}: needs at least one matcher, e.g. 'service=api'"
            raise ValueError(msg)
        for m in self.matchers:
            if not isinstance(m, LabelMatcher):
                msg = f"silence {self.id}: matchers must be LabelMatcher, got {m!r}"
                raise TypeError(msg)
        if all(m.matches({}) for m in self.matchers):
            shown = ", ".join(str(m) for m in self.matchers)
            msg = (
                f"silence {self.id}: matchers {shown} also match a diagnosis without those "
                "labels, so they would mute nearly everything; add a matcher that needs a "
                "non-empty value, such as 'service=api'"
            )
            raise ValueError(msg)
        for what in ("starts_at", "ends_at", "created_at"):
            _require_aware(getattr(self, what), f"silence {self.id}: {what}")
        if self.ends_at < self.starts_at:
            msg = (
                f"silence {self.id}: ends_at {self.ends_at.isoformat()} is before "
                f"starts_at {self.starts_at.isoformat()}"
            )
            raise ValueError(msg)
        if not isinstance(self.author, str) or not self.author.strip():
            msg = f"silence {self.id}: needs an author (who is silencing)"
            raise ValueError(msg)
        if not isinstance(self.comment, str) or not self.comment.strip():
            msg = f"silence {self.id}: needs a comment (why it is silenced)"
            raise ValueError(msg)

    def active(self, now: datetime) -> bool:
        """Whether the silence mutes at ``now``: ``starts_at <= now < ends_at``."""
        _require_aware(now, "now")
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> SilenceState:
        """``pending`` (not started), ``active`` or ``expired`` at ``now``."""
        if self.active(now):
            return "active"
        return "pending" if now < self.starts_at else "expired"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher matches ``labels`` (whatever the time)."""
        return all(m.matches(labels) for m in self.matchers)

    def expire(self, now: datetime) -> Silence:
        """This silence ended at ``now`` (a pending one never starts).

        Raises:
            ValueError: it had already ended by ``now``.
        """
        _require_aware(now, "now")
        if now >= self.ends_at:
            msg = f"silence {self.id} already expired at {self.ends_at.isoformat()}"
            raise ValueError(msg)
        if now < self.starts_at:
            return replace(self, starts_at=now, ends_at=now)
        return replace(self, ends_at=now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: matchers as strings, datetimes as ISO 8601."""
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "author": self.author,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        """The silence :meth:`to_dict` wrote (invariants checked again).

        Raises:
            ValueError: a key is missing or a value is invalid.
        """
        missing = [k for k in _KEYS if k not in data]
        if missing:
            msg = f"silence record lacks {', '.join(missing)}: {dict(data)!r}"
            raise ValueError(msg)
        raw_matchers = data["matchers"]
        if isinstance(raw_matchers, str) or not isinstance(raw_matchers, Sequence):
            msg = f"silence record: matchers must be a list of strings, got {raw_matchers!r}"
            raise ValueError(msg)  # noqa: TRY004 - a bad record is a bad value, as every from_dict error
        return cls(
            id=data["id"],
            matchers=tuple(_matcher(m) for m in raw_matchers),
            starts_at=_when(data["starts_at"], "starts_at"),
            ends_at=_when(data["ends_at"], "ends_at"),
            author=data["author"],
            comment=data["comment"],
            created_at=_when(data["created_at"], "created_at"),
        )


_KEYS = ("id", "matchers", "starts_at", "ends_at", "author", "comment", "created_at")


def _matcher(value: str | LabelMatcher) -> LabelMatcher:
    return value if isinstance(value, LabelMatcher) else parse_matcher(value)


def _when(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        msg = f"silence record: {what} must be an ISO 8601 string, got {value!r}"
        raise ValueError(msg)  # noqa: TRY004 - a bad record is a bad value, as every from_dict error
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"silence record: {what} is not ISO 8601: {value!r}"
        raise ValueError(msg) from None


def new_silence(
    *,
    id: str,
    matchers: Sequence[str | LabelMatcher],
    starts_at: datetime,
    ends_at: datetime,
    author: str,
    comment: str,
    created_at: datetime,
) -> Silence:
    """A new silence, checked: matchers parsed, a real time range, an author and a comment.

    Beyond :class:`Silence`'s invariants, ``ends_at`` must be after ``starts_at`` and after
    ``created_at`` (a silence that never mutes anything is a mistake).

    Raises:
        ValueError: what is wrong and how to fix it.
    """
    if isinstance(matchers, str):
        matchers = [matchers]
    parsed = tuple(_matcher(m) for m in matchers)
    for what, value in (("starts_at", starts_at), ("ends_at", ends_at), ("created_at", created_at)):
        _require_aware(value, f"silence {id}: {what}")
    if ends_at <= starts_at:
        msg = (
            f"silence {id}: ends_at {ends_at.isoformat()} must be after "
            f"starts_at {starts_at.isoformat()}"
        )
        raise ValueError(msg)
    if ends_at <= created_at:
        msg = f"silence {id}: ends_at {ends_at.isoformat()} is already in the past"
        raise ValueError(msg)
    return Silence(
        id=id,
        matchers=parsed,
        starts_at=starts_at,
        ends_at=ends_at,
        author=author,
        comment=comment,
        created_at=created_at,
    )


def silencing(
    silences: Iterable[Silence], labels: Mapping[str, str], now: datetime
) -> Silence | None:
    """The first silence active at ``now`` that matches ``labels``; None when none does."""
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None


def diagnosis_labels(
    *,
    playbook: str,
    service: str,
    kind: str,
    severity: str,
    source: str,
    signature: str,
    attributes: Mapping[str, Any],
) -> dict[str, str]:
    """The labels a silence matches a diagnosis on.

    ``playbook``, ``service``, ``kind``, ``severity``, ``source`` and ``signature``, plus the
    event's ``attributes["labels"]`` when it is a mapping (an Alertmanager alert's labels:
    ``alertname``, ``instance``, ``job``…). Those extra values become strings (non-strings as
    JSON; ``None`` is left out), and the six fixed names win on a conflict.
    """
    fixed = {
        "playbook": playbook,
        "service": service,
        "kind": kind,
        "severity": severity,
        "source": source,
        "signature": signature,
    }
    labels = dict(fixed)
    extra = attributes.get("labels")
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            name = str(key)
            if value is None or name in fixed:
                continue
            labels[name] = value if isinstance(value, str) else _text(value)
    return labels


def _text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
