"""Python regex → a *superset* byte regex for the prefilter engines (hyperscan, RE2, ``re``).

The engines only prefilter: every hit is confirmed with the trigger's own Python pattern, so
what they run must match **at least** every text the Python pattern matches, and may match
more. The translation reads Python's own parse tree, so it sees the pattern exactly as ``re``
does (``{,3}``, ``\\Z``, scoped flags, verbose mode), and emits plain byte syntax all three
engines share (``\\xHH``, ``[...]``, ``(?:...)``, ``{m,n}``). It runs on raw UTF-8 bytes:

* a character outside ASCII, in the text, is a run of bytes ``\\x80-\\xff``; wherever the
  pattern admits such a character (``.``, ``\\w``, ``[^a]``, ``[é-ü]``, a letter under
  ``IGNORECASE``, since the Kelvin sign folds to ``k``) the translation admits
  ``[\\x80-\\xff]+``. A literal ``é`` stays its two bytes; invalid UTF-8 reads as U+FFFD,
  so a literal U+FFFD admits any such run too. No decoding or validation is needed;
* a negated class excludes only the ASCII characters it surely excludes;
* lookarounds and word boundaries are dropped (an assertion removed only widens the match);
  a back-reference becomes "any bytes"; atomic groups and possessive repeats become plain;
* ``\\A`` and ``\\Z`` become ``^`` and ``$``: Grace matches per line, ``MULTILINE``.

Group names vanish (no engine needs captures).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ("Superset", "Untranslatable", "superset")

# re._parser has no stubs and sre_parse warns on import (3.11); its tree is all we read.
_parser: Any = importlib.import_module("re._parser")

_NEWLINE = 0x0A
_REPLACEMENT = 0xFFFD
_DIGITS = frozenset(range(0x30, 0x3A))
_WORD = _DIGITS | frozenset(range(0x41, 0x5B)) | frozenset(range(0x61, 0x7B)) | {0x5F}
_SPACE_CERTAIN = frozenset(b"\t\n\x0b\x0c\r ")
"""ASCII whitespace in both Unicode and ASCII mode."""
_SPACE_ANY = _SPACE_CERTAIN | frozenset(range(0x1C, 0x20))
"""ASCII whitespace in Unicode mode (``str.isspace`` also counts \\x1c-\\x1f)."""
_ASCII = frozenset(range(128))
_LETTERS = frozenset(range(0x41, 0x5B)) | frozenset(range(0x61, 0x7B))
_CATEGORIES: dict[str, tuple[frozenset[int], frozenset[int]]] = {
    # name: (ASCII members a positive class admits, members a negated class may exclude)
    "CATEGORY_DIGIT": (_DIGITS, _DIGITS),
    "CATEGORY_NOT_DIGIT": (_ASCII - _DIGITS, _ASCII - _DIGITS),
    "CATEGORY_WORD": (_WORD, _WORD),
    "CATEGORY_NOT_WORD": (_ASCII - _WORD, _ASCII - _WORD),
    "CATEGORY_SPACE": (_SPACE_ANY, _SPACE_CERTAIN),
    "CATEGORY_NOT_SPACE": (_ASCII - _SPACE_CERTAIN, _ASCII - _SPACE_ANY),
}
_IGNORECASE = re.IGNORECASE.value
_DOTALL = re.DOTALL.value
_HIGH = "[\\x80-\\xff]+"
"""One or more bytes of non-ASCII characters (or invalid UTF-8)."""


class Untranslatable(ValueError):
    """The pattern uses a construct the translation does not know; keep it on ``re``."""


@dataclass(frozen=True, slots=True)
class Superset:
    """The translations of one pattern."""

    spanning: str
    """For hyperscan and RE2 (with ``(?m)`` in front): may span lines, as messages can."""
    loose: str
    """``spanning`` without ``^``/``$``: hyperscan refuses anchors inside a pattern."""
    line_bounded: str
    """For ``re`` over whole buffers: classes keep off ``\\n``, so matches stay in one line
    and a backtracking engine never explores matches that span lines."""
    matches_empty: bool
    """It can match the empty string (then hyperscan refuses it and it is checked per line)."""


def superset(pattern: str) -> Superset:
    """Translate ``pattern`` (a Python ``str`` regex) into superset byte regexes.

    Raises:
        Untranslatable: the parse tree holds an unknown node (a future ``re`` feature).
        re.error: ``pattern`` is not a valid Python regex.
    """
    tree = _parser.parse(pattern, re.MULTILINE)
    flags = tree.state.flags
    return Superset(
        spanning=_Emitter(anchors=True, newlines=True).sequence(tree, flags),
        loose=_Emitter(anchors=False, newlines=True).sequence(tree, flags),
        line_bounded=_Emitter(anchors=True, newlines=False).sequence(tree, flags),
        matches_empty=_nullable(tree),
    )


class _Emitter:
    def __init__(self, *, anchors: bool, newlines: bool) -> None:
        self.anchors = anchors
        self.newlines = newlines

    def sequence(self, items: Iterable[tuple[Any, Any]], flags: int) -> str:
        return "".join(self.node(op, av, flags) for op, av in items)

    def node(self, op: Any, av: Any, flags: int) -> str:
        name = op.name
        if name == "LITERAL":
            return self.char_class([(op, av)], flags) if flags & _IGNORECASE else _literal(av)
        if name in {"NOT_LITERAL", "IN"}:
            items = [(_parser.NEGATE, None), (_parser.LITERAL, av)] if name == "NOT_LITERAL" else av
            return self.char_class(items, flags)
        if name == "ANY":
            return self.any_char(newline=bool(flags & _DOTALL))
        if name == "BRANCH":
            return "(?:" + "|".join(self.sequence(alt, flags) for alt in av[1]) + ")"
        if name == "SUBPATTERN":
            _group, add, remove, sub = av
            return "(?:" + self.sequence(sub, (flags | add) & ~remove) + ")"
        if name == "ATOMIC_GROUP":
            return "(?:" + self.sequence(av, flags) + ")"
        if name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, sub = av
            return "(?:" + self.sequence(sub, flags) + ")" + _quantifier(low, high)
        if name == "AT":
            return self.anchor(av.name)
        if name in {"ASSERT", "ASSERT_NOT"}:
            return ""
        if name == "GROUPREF":
            return "(?:" + self.any_char(newline=True) + ")*"
        if name == "GROUPREF_EXISTS":
            _group, yes, no = av
            return f"(?:{self.sequence(yes, flags)}|{self.sequence(no or (), flags)})"
        msg = f"no translation for regex node {name}"
        raise Untranslatable(msg)

    def any_char(self, *, newline: bool) -> str:
        if newline and self.newlines:
            return f"(?:[\\x00-\\x7f]|{_HIGH})"
        return f"(?:[\\x00-\\x09\\x0b-\\x7f]|{_HIGH})"

    def anchor(self, at: str) -> str:
        if at in {"AT_BEGINNING", "AT_BEGINNING_STRING", "AT_BEGINNING_LINE"}:
            return "^" if self.anchors else ""
        if at in {"AT_END", "AT_END_STRING", "AT_END_LINE"}:
            return "$" if self.anchors else ""
        if at in {"AT_BOUNDARY", "AT_NON_BOUNDARY"}:
            return ""
        msg = f"no translation for anchor {at}"
        raise Untranslatable(msg)

    def char_class(self, items: list[tuple[Any, Any]], flags: int) -> str:
        if items and items[0][0].name == "NEGATE":
            members = set(_ASCII) - _excluded(items[1:])
            high = True
        else:
            members, high = _admitted(items, icase=bool(flags & _IGNORECASE))
        if not self.newlines:
            members.discard(_NEWLINE)
        ascii_part = "[" + "".join(_span(lo, hi) for lo, hi in _runs(sorted(members))) + "]"
        if not high:
            return ascii_part if members else "(?!)"
        return f"(?:{ascii_part}|{_HIGH})" if members else _HIGH


def _literal(code: int) -> str:
    if code < 0x80:
        return _byte(code)
    if code == _REPLACEMENT:
        return _HIGH
    return "".join(_byte(b) for b in chr(code).encode("utf-8", "surrogatepass"))


def _byte(code: int) -> str:
    return chr(code) if code < 0x80 and chr(code).isalnum() else f"\\x{code:02x}"


def _span(lo: int, hi: int) -> str:
    return _byte(lo) if lo == hi else f"{_byte(lo)}-{_byte(hi)}"


def _quantifier(low: int, high: int) -> str:
    unbounded = high == _parser.MAXREPEAT
    if (low, unbounded) == (0, True):
        return "*"
    if (low, unbounded) == (1, True):
        return "+"
    if unbounded:
        return f"{{{low},}}"
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _admitted(items: list[tuple[Any, Any]], *, icase: bool) -> tuple[set[int], bool]:
    """ASCII members of a positive class, and whether it admits any non-ASCII character."""
    members: set[int] = set()
    high = False
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            lo = hi = av
        elif name == "RANGE":
            lo, hi = av
        elif name == "CATEGORY" and av.name in _CATEGORIES:
            members |= _CATEGORIES[av.name][0]
            high = True
            continue
        else:
            msg = f"no translation for class item {name} {av}"
            raise Untranslatable(msg)
        low_ascii = set(range(lo, min(hi, 0x7F) + 1))
        members |= low_ascii
        if hi >= 0x80:
            high = True
        if icase and (low_ascii & _LETTERS or hi >= 0x80):
            # Case folding crosses the ASCII border both ways (K and the Kelvin sign).
            high = True
            members |= _LETTERS if hi >= 0x80 else {c ^ 0x20 for c in low_ascii & _LETTERS}
    return members, high


def _excluded(items: list[tuple[Any, Any]]) -> set[int]:
    """ASCII characters a negated class surely excludes (non-ASCII ones are all admitted)."""
    excluded: set[int] = set()
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            lo = hi = av
        elif name == "RANGE":
            lo, hi = av
        elif name == "CATEGORY" and av.name in _CATEGORIES:
            excluded |= _CATEGORIES[av.name][1]
            continue
        else:
            msg = f"no translation for class item {name} {av}"
            raise Untranslatable(msg)
        excluded |= set(range(lo, min(hi, 0x7F) + 1))
    return excluded


def _runs(codes: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return runs


def _nullable(items: Iterable[tuple[Any, Any]]) -> bool:
    """Whether the translation of ``items`` can match the empty string.

    Assertions count as passable: those the translation keeps (``^``, ``$``) hold on an
    empty line, the others are dropped.
    """
    return all(_nullable_node(op, av) for op, av in items)


def _nullable_node(op: Any, av: Any) -> bool:
    name = op.name
    if name in {"LITERAL", "NOT_LITERAL", "IN", "ANY"}:
        return False
    if name == "BRANCH":
        return any(_nullable(alt) for alt in av[1])
    if name == "SUBPATTERN":
        return _nullable(av[3])
    if name == "ATOMIC_GROUP":
        return _nullable(av)
    if name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
        return av[0] == 0 or _nullable(av[2])
    if name == "GROUPREF_EXISTS":
        return _nullable(av[1]) or _nullable(av[2] or ())
    return True  # AT, ASSERT, ASSERT_NOT, GROUPREF
