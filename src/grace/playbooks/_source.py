"""YAML text → plain Python data, plus where every key and value sits in the file.

ruamel.yaml's round-trip loader keeps each node's mark; we copy the data into plain
``dict``/``list``/scalars (so pydantic and the runner never see ruamel types) and record, for
every field path, the 1-based line and column of its key and of its value.

ruamel.yaml is imported by :func:`parse_document`, not with this module: a daemon whose
playbooks all come from the start-up cache never parses YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grace.errors import Problem

if TYPE_CHECKING:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = ("Document", "FieldPath", "Mark", "dotted", "parse_document")

FieldPath = tuple[str | int, ...]
"""Where a value sits: mapping keys and 0-based list indices (``("steps", 1, "with")``)."""

MAX_NODES = 100_000
"""More nodes than this (typically an alias bomb) is refused rather than expanded."""

_ORIGIN = (1, 1)


def dotted(path: FieldPath) -> str:
    """``("steps", 1, "with")`` → ``"steps.1.with"``."""
    return ".".join(str(part) for part in path)


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in the file."""

    line: int
    column: int


@dataclass(slots=True)
class Document:
    """A parsed playbook file: plain data and the position of each of its parts."""

    data: Any
    """Plain Python: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``…"""
    keys: dict[FieldPath, Mark] = field(default_factory=dict)
    """Position of each mapping key, and of each list item."""
    values: dict[FieldPath, Mark] = field(default_factory=dict)
    """Position of each value (a nested mapping's value starts at its first key)."""

    def key_mark(self, path: FieldPath) -> Mark:
        """Where the key (or list item) at ``path`` starts, else its closest ancestor's."""
        return _nearest(self.keys, path)

    def value_mark(self, path: FieldPath) -> Mark:
        """Where the value at ``path`` starts, else its closest ancestor's."""
        return _nearest(self.values, path) if path in self.values else _nearest(self.keys, path)

    def lines(self) -> dict[str, int]:
        """Dotted path → line, for every key and list item (``Playbook.lines``)."""
        return {dotted(path): mark.line for path, mark in self.keys.items()}


def _nearest(marks: dict[FieldPath, Mark], path: FieldPath) -> Mark:
    while path:
        if path in marks:
            return marks[path]
        path = path[:-1]
    return Mark(*_ORIGIN)


def parse_document(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document.

    Returns the document (None when the YAML itself is broken) and the problems found on
    the way: syntax errors, unquoted templates, alias bombs.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        return None, [_syntax_problem(exc, file)]
    except YAMLError as exc:
        return None, [_reader_problem(exc, text, file)]
    except RecursionError:
        problem = Problem(
            file, 1, 1, "invalid YAML: nested too deeply", "flatten the structure", field=""
        )
        return None, [problem]
    builder = _Builder(file)
    data = builder.convert(raw, ())
    return Document(data, builder.keys, builder.values), builder.problems


class _Builder:
    """Copies ruamel's round-trip objects into plain data, recording marks on the way."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.keys: dict[FieldPath, Mark] = {}
        self.values: dict[FieldPath, Mark] = {}
        self.problems: list[Problem] = []
        self._nodes = 0
        self._active: set[int] = set()

    def convert(self, obj: Any, path: FieldPath) -> Any:
        self._nodes += 1
        if self._nodes == MAX_NODES:
            self._problem(
                path,
                f"the document expands to more than {MAX_NODES} values",
                "avoid deeply nested YAML aliases (*name); write the values out",
            )
        if self._nodes >= MAX_NODES:
            return None
        if isinstance(obj, Mapping | list):
            if id(obj) in self._active:
                self._problem(path, "a YAML alias refers to itself", "remove the recursive alias")
                return None
            self._active.add(id(obj))
            try:
                if isinstance(obj, Mapping):
                    return self._mapping(obj, path)
                return self._sequence(obj, path)
            finally:
                self._active.discard(id(obj))
        return _scalar(obj)

    def _mapping(self, obj: Mapping[Any, Any], path: FieldPath) -> Any:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(key, Mapping):
                # `message: {{ event.message }}` parses as a flow mapping keyed by a mapping.
                return self._unquoted_template(obj, path)
            name = key if isinstance(key, str) else str(_scalar(key))
            child = (*path, name)
            self.keys[child] = _mark(obj, "key", key)
            self.values[child] = _mark(obj, "value", key)
            out[name] = self.convert(value, child)
        return out

    def _sequence(self, obj: list[Any], path: FieldPath) -> list[Any]:
        out: list[Any] = []
        for index, value in enumerate(obj):
            child = (*path, index)
            self.keys[child] = self.values[child] = _mark(obj, "item", index)
            out.append(self.convert(value, child))
        return out

    def _unquoted_template(self, obj: Mapping[Any, Any], path: FieldPath) -> str:
        inner = next(iter(obj))
        expr = ", ".join(str(k) for k in inner) if isinstance(inner, Mapping) else str(inner)
        text = "{{ " + expr + " }}"
        name = path[-1] if path else "value"
        self._problem(
            path,
            "a value starting with '{' must be quoted in YAML (this one reads as a mapping)",
            f'quote the template: {name}: "{text}"',
        )
        return text

    def _problem(self, path: FieldPath, message: str, hint: str) -> None:
        mark = _nearest(self.values, path) if path in self.values else _nearest(self.keys, path)
        where = f"{dotted(path)}: " if path else ""
        self.problems.append(
            Problem(self.file, mark.line, mark.column, where + message, hint, field=dotted(path))
        )


def _scalar(obj: Any) -> Any:
    """ruamel's scalar subclasses (ScalarFloat, HexInt, quoted strings…) as builtins."""
    from ruamel.yaml.comments import TaggedScalar  # loaded already: parse_document ran

    if isinstance(obj, TaggedScalar):
        return _scalar(obj.value)
    if obj is None or isinstance(obj, bool):
        return obj
    for kind in (str, int, float):
        if isinstance(obj, kind):
            return kind(obj)
    return obj


def _mark(container: Any, what: str, key: Any) -> Mark:
    """The 1-based mark of a key, value or item; the container's own mark when unknown."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return Mark(*_ORIGIN)
    try:
        line, column = getattr(lc, what)(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        line, column = lc.line, lc.col
    if line is None or column is None:
        return Mark(*_ORIGIN)
    return Mark(int(line) + 1, int(column) + 1)


_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    ("'\\t'", "indent with spaces; YAML does not allow tabs"),
    ("duplicate key", "each key may appear once per mapping: remove or rename one"),
    ("another document", "one playbook per file: remove the '---' separator"),
    (
        "mapping values are not allowed",
        "quote the value: it contains ': ' (e.g. message: \"disk: full\")",
    ),
    ("undefined alias", "define the anchor (&name) before using the alias (*name)"),
    ("found character '@'", "quote values that start with '@' or '`'"),
    ("found character '%'", "quote values that start with '%'"),
)


def _syntax_problem(exc: MarkedYAMLError, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else _ORIGIN
    problem = (exc.problem or "").strip()
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    context = (exc.context or "").strip()
    opened = exc.context_mark
    if context and problem.startswith("but "):
        # "expected a single document in the stream" / "but found another document"
        problem, context = f"{context}, {problem}", ""
    message = f"invalid YAML: {problem or 'cannot be parsed'}"
    if context and opened is not None and opened is not mark:
        message += f" ({context} at line {opened.line + 1}, column {opened.column + 1})"
    hint = next((h for needle, h in _SYNTAX_HINTS if needle in str(exc)), None)
    if hint is None and opened is not None and "expected ','" in problem:
        bracket, closer = ("{", "}") if "mapping" in context else ("[", "]")
        hint = f"close the '{bracket}' at line {opened.line + 1} with '{closer}'"
    if hint is None:
        hint = "check the indentation and quoting on this line and the one before it"
    return Problem(file, line, column, message, hint)


def _reader_problem(exc: YAMLError, text: str, file: str) -> Problem:
    position = getattr(exc, "position", None)
    line, column = _ORIGIN
    if isinstance(position, int) and 0 <= position <= len(text):
        before = text[:position]
        line = before.count("\n") + 1
        column = position - (before.rfind("\n") + 1) + 1
    character = getattr(exc, "character", None)
    if isinstance(character, int):
        character = f"#x{character:04x}"
    what = f"character {character!r} is not allowed" if character is not None else str(exc)
    return Problem(
        file,
        line,
        column,
        f"invalid YAML: {what}",
        "remove control characters; the file must be UTF-8 text",
    )
