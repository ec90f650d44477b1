"""``code.syntax_scan`` and ``code.fix_mechanical``: syntax errors in a code tree, safely.

Both only *read* source: they call ``compile(source, path, "exec", dont_inherit=True)`` and
``ast.parse`` on the file's bytes and never import or execute it. Four problems are told apart:

``bom``           a UTF-8 byte order mark (``U+FEFF``, which tools reading the file as UTF-8
                  text reject as "invalid non-printable character")
``line_endings``  a mix of ``\\r\\n``, ``\\r`` and ``\\n`` line endings
``tabs``          a ``TabError`` / ``IndentationError`` that one tab width resolves
``other``         everything else (a missing colon, an unclosed bracket, a bad encoding …)

The first three are *mechanical* when the fix is unambiguous. ``code.fix_mechanical`` fixes a
file only when every problem in it is mechanical: it strips the BOM, normalises line endings to
the file's majority, expands indentation tabs to the only tab width (of 4, 8 and 2) under which
the file compiles to one AST, re-checks that the result compiles to the AST it intended, backs
the original up, then replaces the file atomically with its permission bits kept.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.actions.builtin.backups import take_backup
from grace.errors import ActionError

__all__ = (
    "CodeFixParams",
    "CodeScanParams",
    "FileReport",
    "Problem",
    "examine",
    "fix_mechanical",
    "syntax_scan",
)

Kind = Literal["bom", "line_endings", "tabs", "other"]

BOM = b"\xef\xbb\xbf"
TAB_WIDTHS = (4, 8, 2)
"""Tab widths tried for a ``TabError``, in order of preference (PEP 8's 4 first)."""
DEFAULT_EXCLUDE = ("**/.git/**", "**/.venv/**", "**/__pycache__/**", "**/node_modules/**")
_EOL = re.compile(rb"\r\n|\r|\n")
_INDENT = re.compile(rb"[ \t]*")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one file."""

    line: int
    message: str
    kind: Kind
    mechanical: bool

    def to_json(self, file: str) -> dict[str, Any]:
        """The ``errors[]`` entry of ``code.syntax_scan``."""
        return {
            "file": file,
            "line": self.line,
            "message": self.message,
            "mechanical": self.mechanical,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class FileReport:
    """What :func:`examine` found in a file, and the fixed bytes when every problem is mechanical."""

    problems: tuple[Problem, ...] = ()
    fixed: bytes | None = None
    """The repaired content; None when the file is clean or has a non-mechanical problem."""
    reason: str = ""
    """Why ``fixed`` is None although there are problems."""
    kinds: tuple[str, ...] = ()
    """The problems' kinds, in order."""


def _compile(source: bytes, name: str) -> ast.AST:
    """The file's AST (``compile`` with ``dont_inherit``: nothing is imported or run)."""
    try:
        compile(source, name, "exec", dont_inherit=True)  # also catches compile-stage errors
    except ValueError as exc:  # NUL bytes on some Python versions
        raise SyntaxError(str(exc)) from None
    return ast.parse(source, name)


def _dump(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=False)


def _syntax_message(exc: SyntaxError) -> str:
    return f"{type(exc).__name__}: {exc.msg}"


def _indent(line: bytes) -> bytes:
    m = _INDENT.match(line)
    return m.group() if m else b""


def _split_lines(data: bytes) -> list[tuple[bytes, bytes]]:
    """``[(line, ending), …]``; the last line may have an empty ending."""
    lines: list[tuple[bytes, bytes]] = []
    start = 0
    for m in _EOL.finditer(data):
        lines.append((data[start : m.start()], m.group()))
        start = m.end()
    if start < len(data):
        lines.append((data[start:], b""))
    return lines


def majority_ending(data: bytes) -> bytes | None:
    """The file's most used line ending when it mixes several (ties: the first one seen)."""
    endings = [e for _, e in _split_lines(data) if e]
    counts = Counter(endings)
    if len(counts) < 2:
        return None
    best = max(counts.values())
    return next(e for e in endings if counts[e] == best)


def normalise_endings(data: bytes, ending: bytes) -> bytes:
    """``data`` with every line ending replaced by ``ending``."""
    return b"".join(line + (ending if e else b"") for line, e in _split_lines(data))


def expand_indent_tabs(data: bytes, width: int) -> bytes:
    """``data`` with tabs in each line's leading whitespace expanded to ``width`` columns.

    Tabs after the indentation (inside code, comments or strings) are left as they are.
    """
    out: list[bytes] = []
    for line, ending in _split_lines(data):
        indent = _indent(line)
        if b"\t" in indent and len(indent) < len(line):
            line = indent.expandtabs(width) + line[len(indent) :]
        out.append(line + ending)
    return b"".join(out)


def _first_line_with(data: bytes, ending: bytes) -> int:
    for number, (_, e) in enumerate(_split_lines(data), start=1):
        if e and e != ending:
            return number
    return 1


def _tab_fix(data: bytes, name: str) -> tuple[bytes, ast.AST] | None:
    """The one tab expansion that compiles, or None when none does or widths disagree."""
    found: list[tuple[bytes, ast.AST]] = []
    for width in TAB_WIDTHS:
        candidate = expand_indent_tabs(data, width)
        try:
            tree = _compile(candidate, name)
        except SyntaxError:
            continue
        found.append((candidate, tree))
    if not found or len({_dump(tree) for _, tree in found}) != 1:
        return None
    return found[0]


def examine(data: bytes, name: str = "<source>") -> FileReport:
    """Diagnose one file's bytes and, when every problem is mechanical, compute the fix.

    Pure: reads nothing, writes nothing, never executes ``data``.
    """
    problems: list[Problem] = []
    work = data
    if work.startswith(BOM):
        problems.append(
            Problem(1, "UTF-8 byte order mark (U+FEFF) at the start of the file", "bom", True)
        )
        work = work[len(BOM) :]
    ending = majority_ending(work)
    if ending is not None:
        shown = {b"\r\n": "CRLF", b"\r": "CR", b"\n": "LF"}[ending]
        problems.append(
            Problem(
                _first_line_with(work, ending),
                f"mixed line endings (the majority is {shown})",
                "line_endings",
                True,
            )
        )
        work = normalise_endings(work, ending)
    original_tree: ast.AST | None = None
    with contextlib.suppress(SyntaxError):
        original_tree = _compile(data, name)
    intended: ast.AST | None = original_tree
    try:
        intended = _compile(work, name)
    except SyntaxError as exc:
        line = exc.lineno or 1
        has_tabs = any(b"\t" in _indent(ln) for ln, _ in _split_lines(work))
        if isinstance(exc, IndentationError) and has_tabs:
            fixed = _tab_fix(work, name)
            if fixed is None:
                problems.append(
                    Problem(
                        line,
                        f"{_syntax_message(exc)} (no single tab width fixes it)",
                        "tabs",
                        False,
                    )
                )
            else:
                problems.append(Problem(line, _syntax_message(exc), "tabs", True))
                work, intended = fixed
        else:
            problems.append(Problem(line, _syntax_message(exc), "other", False))
    kinds = tuple(p.kind for p in problems)
    if not problems:
        return FileReport()
    if not all(p.mechanical for p in problems):
        return FileReport(tuple(problems), None, "has a problem that is not mechanical", kinds)
    return _verified(data, work, name, tuple(problems), original_tree, intended)


def _verified(
    data: bytes,
    fixed: bytes,
    name: str,
    problems: tuple[Problem, ...],
    original_tree: ast.AST | None,
    intended: ast.AST | None,
) -> FileReport:
    kinds = tuple(p.kind for p in problems)
    try:
        after = _compile(fixed, name)
    except SyntaxError as exc:
        return FileReport(
            problems, None, f"the fix does not compile: {_syntax_message(exc)}", kinds
        )
    want = original_tree if original_tree is not None else intended
    if want is None or _dump(after) != _dump(want):
        return FileReport(problems, None, "the fix would change the program's AST", kinds)
    if fixed == data:
        return FileReport(problems, None, "the fix changes no bytes", kinds)
    return FileReport(problems, fixed, "", kinds)


# --- walking a tree --------------------------------------------------------------------------


def _excluded(rel: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatchcase(rel, pattern):
            return True
        bare = pattern.removeprefix("**/")
        if bare != pattern and (
            fnmatch.fnmatchcase(rel, bare) or fnmatch.fnmatchcase(rel, f"*/{bare}")
        ):
            return True
    return False


def _files(root: Path, include: str, exclude: list[str], max_files: int) -> tuple[list[Path], bool]:
    if not root.is_dir():
        msg = f"code root {root} is not a directory"
        raise ActionError(msg, retryable=False, type="NotADirectory")
    found: list[Path] = []
    for path in sorted(root.glob(include)):
        if path.is_symlink() or not path.is_file():
            continue
        if _excluded(path.relative_to(root).as_posix(), exclude):
            continue
        if len(found) == max_files:
            return found, True
        found.append(path)
    return found, False


class CodeScanParams(BuiltinParams):
    """Parameters of ``code.syntax_scan``."""

    root: FilePath
    """The code tree to scan (a directory)."""
    include: str = Field(default="**/*.py", min_length=1, max_length=500)
    """Glob of files to check, relative to ``root``."""
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE), max_length=100)
    """Globs (relative to ``root``) to leave out; ``**/`` also matches at the top level."""
    max_files: int = Field(default=10_000, ge=1, le=1_000_000)
    """Stop after this many files (``truncated`` says so)."""
    fail_on_mechanical: bool = False
    """Fail the step when mechanical problems remain (a verification scan after a fix)."""


class CodeFixParams(BuiltinParams):
    """Parameters of ``code.fix_mechanical``."""

    root: FilePath
    """The code tree to repair (a directory)."""
    include: str = Field(default="**/*.py", min_length=1, max_length=500)
    """Glob of files to consider, relative to ``root``."""
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE), max_length=100)
    """Globs (relative to ``root``) to leave out."""
    max_files: int = Field(default=10_000, ge=1, le=1_000_000)
    """Consider at most this many files."""
    backup_dir: FilePath | None = None
    """Copy each original to ``<backup_dir>/<run id>/<path under root>`` before fixing it;
    None means Grace's backup store (``file.restore`` can put it back)."""


def _scan(params: CodeScanParams) -> tuple[int, list[dict[str, Any]], bool]:
    root = target_path(params.root)
    files, truncated = _files(root, params.include, params.exclude, params.max_files)
    errors: list[dict[str, Any]] = []
    for path in files:
        current = read_bytes(path)
        if current is None:
            continue
        report = examine(current[0], str(path))
        errors.extend(p.to_json(str(path)) for p in report.problems)
    return len(files), errors, truncated


def _describe_scan(p: CodeScanParams) -> str:
    return f"would compile (never run) {p.include} under {p.root} and list syntax errors"


@action(
    "code.syntax_scan",
    params=CodeScanParams,
    risk="low",
    idempotent=True,
    outputs=("files_scanned", "errors", "count", "mechanical_count", "other_count", "truncated"),
    describe=_describe_scan,
)
async def syntax_scan(ctx: ActionContext, params: CodeScanParams) -> ActionResult:
    """Compile every Python file under a root (never importing it) and list its syntax errors."""
    scanned, errors, truncated = await anyio.to_thread.run_sync(_scan, params)
    mechanical = sum(1 for e in errors if e["mechanical"])
    outputs = {
        "files_scanned": scanned,
        "errors": errors,
        "count": len(errors),
        "mechanical_count": mechanical,
        "other_count": len(errors) - mechanical,
        "truncated": truncated,
    }
    summary = (
        f"{len(errors)} problem(s) in {scanned} file(s) under {params.root}: "
        f"{mechanical} mechanical, {len(errors) - mechanical} other"
    )
    if params.fail_on_mechanical and mechanical:
        first = next(e for e in errors if e["mechanical"])
        msg = f"{mechanical} mechanical problem(s) remain, first {first['file']}:{first['line']}"
        raise ActionError(msg, retryable=False, type="MechanicalErrorsRemain")
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)


def _backup(ctx: ActionContext, params: CodeFixParams, root: Path, path: Path) -> str | None:
    if params.backup_dir is None:
        if not ctx.backup:
            return None
        return str(take_backup(ctx.data_dir, path, keep=ctx.backup_keep, now=ctx.clock.now()))
    current = read_bytes(path)
    if current is None:
        msg = f"cannot back up {path}: it vanished"
        raise ActionError(msg, retryable=True, type="FileNotFound")
    dest = target_path(params.backup_dir) / ctx.run_id / path.relative_to(root)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    n = 0
    while True:
        candidate = dest if n == 0 else dest.with_name(f"{dest.name}.{n}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            n += 1
            continue
        break
    with os.fdopen(fd, "wb") as fh:
        fh.write(current[0])
        fh.flush()
        os.fchmod(fh.fileno(), current[1])
        os.fsync(fh.fileno())
    return str(candidate)


def _fix(ctx: ActionContext, params: CodeFixParams) -> dict[str, list[Any]]:
    root = target_path(params.root)
    files, _ = _files(root, params.include, params.exclude, params.max_files)
    fixed: list[dict[str, Any]] = []
    backups: list[str] = []
    skipped: list[dict[str, str]] = []
    for path in files:
        current = read_bytes(path)
        if current is None:
            continue
        data, mode = current
        report = examine(data, str(path))
        if not report.problems:
            continue
        if report.fixed is None:
            skipped.append({"file": str(path), "reason": report.reason})
            continue
        if ctx.dry_run:  # report what would be fixed; write nothing
            fixed.append({"file": str(path), "kinds": list(report.kinds), "backup": None})
            continue
        backup = _backup(ctx, params, root, path)
        if backup is not None:
            backups.append(backup)
        if read_bytes(path) != current:  # changed under us since we read it
            skipped.append({"file": str(path), "reason": "changed while being fixed"})
            continue
        write_atomic(path, report.fixed, mode=mode)
        fixed.append({"file": str(path), "kinds": list(report.kinds), "backup": backup})
    return {"fixed": fixed, "backups": backups, "skipped": skipped}


def _describe_fix(p: CodeFixParams) -> str:
    where = p.backup_dir or "the backup store"
    return (
        f"would strip BOMs, normalise mixed line endings and expand unambiguous indentation "
        f"tabs in {p.include} under {p.root} (originals copied to {where} first); "
        "files with any other error are left untouched"
    )


@action(
    "code.fix_mechanical",
    params=CodeFixParams,
    risk="medium",
    idempotent=True,
    destructive=True,
    outputs=("fixed", "backups", "skipped"),
    describe=_describe_fix,
)
async def fix_mechanical(ctx: ActionContext, params: CodeFixParams) -> ActionResult:
    """Fix BOMs, mixed line endings and unambiguous tab indentation, backing up each file first."""
    outputs = await anyio.to_thread.run_sync(_fix, ctx, params)
    fixed, skipped = outputs["fixed"], outputs["skipped"]
    verb = "would fix" if ctx.dry_run else "fixed"
    summary = f"{verb} {len(fixed)} file(s) under {params.root}"
    if skipped:
        summary += f"; left {len(skipped)} untouched ({skipped[0]['file']}: {skipped[0]['reason']})"
    return ActionResult(
        ok=True, summary=summary, outputs=outputs, changed=bool(fixed) and not ctx.dry_run
    )
