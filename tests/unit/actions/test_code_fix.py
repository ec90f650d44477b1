"""The pure side of ``code.syntax_scan`` / ``code.fix_mechanical``: diagnosis and exact fixes."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from grace.actions import ActionContext
from grace.actions.builtin.backups import list_backups
from grace.actions.builtin.code import (
    CodeFixParams,
    CodeScanParams,
    examine,
    expand_indent_tabs,
    fix_mechanical,
    majority_ending,
    normalise_endings,
    syntax_scan,
)
from grace.errors import ActionError

MakeCtx = Callable[..., ActionContext]


def _kinds(data: bytes) -> list[tuple[str, bool]]:
    return [(p.kind, p.mechanical) for p in examine(data, "t.py").problems]


def test_a_clean_file_has_no_problem_and_no_fix() -> None:
    """Valid source with one kind of line ending is left alone."""
    report = examine(b"def f():\n    return 1\n")
    assert report.problems == ()
    assert report.fixed is None


def test_a_bom_is_stripped_and_nothing_else_changes() -> None:
    """The fix removes exactly the three BOM bytes."""
    report = examine(b"\xef\xbb\xbfx = 1\n")
    assert [(p.kind, p.line) for p in report.problems] == [("bom", 1)]
    assert report.fixed == b"x = 1\n"


def test_mixed_endings_become_the_majority() -> None:
    """Two CRLF and one LF: the LF line turns CRLF, and the problem names its line."""
    data = b"a = 1\r\nb = 2\nc = 3\r\n"
    report = examine(data)
    assert [(p.kind, p.line) for p in report.problems] == [("line_endings", 2)]
    assert report.fixed == b"a = 1\r\nb = 2\r\nc = 3\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\r\nb\r\nc\n", b"\r\n"),
        (b"a\nb\nc\r\n", b"\n"),
        (b"a\r\nb\n", b"\r\n"),  # a tie: the first ending seen
        (b"a\rb\rc\n", b"\r"),
        (b"a\nb\n", None),  # not mixed
    ],
)
def test_majority_ending(data: bytes, expected: bytes | None) -> None:
    """The most used ending wins; a tie goes to the first; one kind is not a mix."""
    assert majority_ending(data) == expected


def test_normalise_keeps_a_missing_final_newline_missing() -> None:
    """Only existing endings are rewritten; none is added at the end."""
    assert normalise_endings(b"a\r\nb\nc", b"\n") == b"a\nb\nc"


def test_only_indentation_tabs_are_expanded() -> None:
    """A tab inside code or a string after the indentation stays a tab."""
    data = b"if x:\n\ty = '\\t'\t# c\n"
    assert expand_indent_tabs(data, 4) == b"if x:\n    y = '\\t'\t# c\n"


def test_a_tab_error_with_one_valid_width_is_fixed() -> None:
    """Tabs plus one 4-space line: only width 4 compiles, so that is the fix."""
    data = b"def f(a):\n\ts = a\n    t = s\n\treturn t\n"
    with pytest.raises(IndentationError):
        compile(data, "t.py", "exec", dont_inherit=True)
    report = examine(data)
    assert _kinds(data) == [("tabs", True)]
    assert report.fixed == b"def f(a):\n    s = a\n    t = s\n    return t\n"


def test_a_tab_error_where_a_tab_is_eight_spaces_is_fixed_at_width_eight() -> None:
    """A ``TabError`` (a tab next to 8 spaces): only width 8 compiles."""
    data = b"if 1:\n\tx = 1\n        y = 2\n"
    with pytest.raises(TabError):
        compile(data, "t.py", "exec", dont_inherit=True)
    assert examine(data).fixed == b"if 1:\n        x = 1\n        y = 2\n"


def test_a_tab_error_two_widths_read_differently_is_left_alone() -> None:
    """Width 4 puts ``y`` inside the ``if``, width 8 outside it: ambiguous, not mechanical."""
    data = b"def f():\n\tif 1:\n\t\tx = 1\n    \ty = 2\n\treturn 1\n"
    report = examine(data)
    assert _kinds(data) == [("tabs", False)]
    assert report.fixed is None
    assert "not mechanical" in report.reason


def test_a_missing_colon_is_not_mechanical_and_names_its_line() -> None:
    """A real syntax error is reported with its line and never fixed."""
    report = examine(b"x = 1\nif x\n    pass\n")
    (problem,) = report.problems
    assert (problem.kind, problem.mechanical, problem.line) == ("other", False, 2)
    assert "expected ':'" in problem.message
    assert report.fixed is None


def test_a_bom_next_to_a_real_error_is_not_fixed() -> None:
    """A file is fixed only when every problem in it is mechanical."""
    data = b"\xef\xbb\xbfif x\n    pass\n"
    assert _kinds(data) == [("bom", True), ("other", False)]
    assert examine(data).fixed is None


def test_all_three_mechanical_problems_at_once() -> None:
    """BOM, mixed endings and a tab error in one file: one fix, same AST as intended."""
    data = b"\xef\xbb\xbfdef f(a):\n\ts = a\r\n    t = s\n\treturn t\n"
    report = examine(data)
    assert [p.kind for p in report.problems] == ["bom", "line_endings", "tabs"]
    assert report.fixed == b"def f(a):\n    s = a\n    t = s\n    return t\n"
    want = ast.parse("def f(a):\n    s = a\n    t = s\n    return t\n")
    assert ast.dump(ast.parse(report.fixed)) == ast.dump(want)


def test_a_compile_stage_error_is_found_without_running_anything() -> None:
    """``return`` outside a function parses but does not compile: reported, never executed."""
    report = examine(b"import os\nos.remove('/nonexistent')\nreturn 1\n")
    (problem,) = report.problems
    assert (problem.kind, problem.line) == ("other", 3)


def test_nul_bytes_are_reported_not_raised() -> None:
    """A NUL byte is a syntax problem, not a crash of the scanner."""
    (problem,) = examine(b"x = 1\x00\n").problems
    assert problem.kind == "other"


@pytest.mark.anyio
async def test_fix_backs_up_into_the_store_and_a_dry_run_writes_nothing(
    tmp_path: Path, make_ctx: MakeCtx
) -> None:
    """Without backup_dir the original goes to the backup store; a dry run only reports."""
    root = tmp_path / "code"
    root.mkdir()
    target = root / "bom.py"
    target.write_bytes(b"\xef\xbb\xbfx = 1\n")
    (root / "bad.py").write_bytes(b"if x\n    pass\n")
    params = CodeFixParams(root=str(root))

    dry = await fix_mechanical(make_ctx(dry_run=True), params)
    assert [f["file"] for f in dry.outputs["fixed"]] == [str(target)]
    assert target.read_bytes() == b"\xef\xbb\xbfx = 1\n"
    assert not dry.changed

    ctx = make_ctx()
    done = await fix_mechanical(ctx, params)
    assert target.read_bytes() == b"x = 1\n"
    (backup,) = list_backups(ctx.data_dir, target)
    assert backup.read_bytes() == b"\xef\xbb\xbfx = 1\n"
    assert done.outputs["skipped"] == [
        {"file": str(root / "bad.py"), "reason": "has a problem that is not mechanical"}
    ]


@pytest.mark.anyio
async def test_scan_fails_when_asked_and_mechanical_problems_remain(
    tmp_path: Path, make_ctx: MakeCtx
) -> None:
    """``fail_on_mechanical`` turns a leftover mechanical problem into a non-retryable error."""
    (tmp_path / "a.py").write_bytes(b"a = 1\r\nb = 2\n")
    params = CodeScanParams(root=str(tmp_path), fail_on_mechanical=True)
    with pytest.raises(ActionError) as caught:
        await syntax_scan(make_ctx(), params)
    assert not caught.value.retryable
