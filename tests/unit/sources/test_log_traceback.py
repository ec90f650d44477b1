"""Traceback grouping and parsing, on tracebacks printed by a real CPython child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from grace.sources.builtin._traceback import (
    MAX_FRAMES,
    MAX_TEXT,
    TracebackCollector,
    is_traceback_start,
    parse_traceback,
)


def _stderr_of(code: str, *, cwd: Path | None = None) -> list[str]:
    """The lines a Python child prints to stderr when running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=30,
    )
    assert done.returncode != 0
    return done.stderr.splitlines()


def _collect(lines: list[str]) -> tuple[TracebackCollector, int]:
    """Feed ``lines`` to a collector; returns it and how many lines it took (header included)."""
    assert is_traceback_start(lines[0].encode())
    group = TracebackCollector(lines[0], offset=0, now=0.0)
    taken = 1
    for line in lines[1:]:
        if not group.feed(line, now=0.0):
            break
        taken += 1
    return group, taken


def test_module_not_found_is_type_message_and_frames() -> None:
    """A missing import parses into its type, message and the <module> frame."""
    lines = _stderr_of("import faiss_missing_for_grace_tests")
    info = parse_traceback(lines)
    assert info.exception_type == "ModuleNotFoundError"
    assert info.exception_message == "No module named 'faiss_missing_for_grace_tests'"
    assert info.summary == "ModuleNotFoundError: No module named 'faiss_missing_for_grace_tests'"
    assert info.frames == [{"file": "<string>", "line": 1, "function": "<module>"}]
    assert info.text == "\n".join(lines)
    assert info.chain == []


def test_nested_frames_are_outermost_first() -> None:
    """Frames keep the traceback's order: the outermost call first, the raise last."""
    lines = _stderr_of(
        """
        def inner():
            raise ValueError("bad value")
        def outer():
            inner()
        outer()
        """
    )
    info = parse_traceback(lines)
    assert [f["function"] for f in info.frames] == ["<module>", "outer", "inner"]
    assert [f["line"] for f in info.frames] == [6, 5, 3]
    assert info.summary == "ValueError: bad value"


def test_collector_takes_every_line_and_stops_at_the_next_log_line() -> None:
    """The collector takes the whole traceback and refuses the log line after it."""
    lines = _stderr_of("def f():\n    raise RuntimeError('boom')\nf()")
    group, taken = _collect([*lines, "2026-01-01 12:00:00 INFO next request"])
    assert taken == len(lines)
    assert group.complete
    assert group.lines == lines


def test_chained_during_handling_is_one_group_with_the_last_exception() -> None:
    """'During handling…' chains stay one traceback; the final exception is the last one."""
    lines = _stderr_of(
        """
        try:
            {}["missing"]
        except KeyError:
            raise RuntimeError("lookup failed")
        """
    )
    assert any(line.startswith("During handling") for line in lines)
    group, taken = _collect([*lines, "INFO after"])
    assert taken == len(lines)
    info = parse_traceback(group.lines)
    assert info.summary == "RuntimeError: lookup failed"
    assert info.chain == [
        {"exception_type": "KeyError", "exception_message": "'missing'", "relation": "context"}
    ]
    assert info.frames[-1]["line"] == 5


def test_raise_from_is_a_cause_in_the_chain() -> None:
    """``raise … from`` is recorded as relation 'cause'; three links keep their order."""
    lines = _stderr_of(
        """
        def load():
            try:
                1 / 0
            except ZeroDivisionError as exc:
                raise ValueError("bad ratio") from exc
        try:
            load()
        except ValueError:
            raise SystemError("giving up")
        """
    )
    group, taken = _collect(lines)
    assert taken == len(lines)
    info = parse_traceback(group.lines)
    assert info.exception_type == "SystemError"
    assert [(c["exception_type"], c["relation"]) for c in info.chain] == [
        ("ZeroDivisionError", "cause"),
        ("ValueError", "context"),
    ]
    assert info.attributes()["chain"] == info.chain


def test_syntax_error_on_import_keeps_the_location_frame(tmp_path: Path) -> None:
    """A SyntaxError raised by an import has a frame without function and a caret line."""
    (tmp_path / "badmod.py").write_text("def f(:\n    pass\n")
    lines = _stderr_of("import badmod", cwd=tmp_path)
    group, taken = _collect([*lines, "next line"])
    assert taken == len(lines)
    info = parse_traceback(group.lines)
    assert info.exception_type == "SyntaxError"
    assert info.frames[-1] == {"file": str(tmp_path / "badmod.py"), "line": 1, "function": ""}


def test_keyboard_interrupt_has_no_message() -> None:
    """``KeyboardInterrupt`` ends the traceback with a bare type."""
    lines = _stderr_of("raise KeyboardInterrupt")
    group, taken = _collect([*lines, "after"])
    assert taken == len(lines)
    info = parse_traceback(group.lines)
    assert (info.exception_type, info.exception_message) == ("KeyboardInterrupt", "")
    assert info.summary == "KeyboardInterrupt"


def test_dotted_exception_type() -> None:
    """An exception defined in a package keeps its dotted name."""
    lines = _stderr_of("import json; json.loads('{')")
    info = parse_traceback(lines)
    assert info.exception_type == "json.decoder.JSONDecodeError"
    assert info.exception_message.startswith("Expecting property name")


def test_exception_line_waits_for_a_possible_chain() -> None:
    """After the exception line, a blank line is taken tentatively; a log line ends it."""
    group = TracebackCollector("Traceback (most recent call last):", offset=10, now=0.0)
    assert group.feed('  File "x.py", line 1, in <module>', now=1.0)
    assert not group.complete
    assert group.feed("ValueError: x", now=2.0)
    assert group.complete
    assert group.feed("", now=3.0)
    assert not group.feed("INFO unrelated", now=4.0)
    assert group.last_fed == 3.0
    assert group.offset == 10


def test_a_second_header_inside_frames_starts_a_new_traceback() -> None:
    """A header before the exception line ends the current (cut) traceback."""
    group = TracebackCollector("Traceback (most recent call last):", offset=0, now=0.0)
    assert group.feed('  File "x.py", line 1, in <module>', now=0.0)
    assert not group.feed("Traceback (most recent call last):", now=0.0)
    info = parse_traceback(group.lines)
    assert info.summary == "Traceback (incomplete)"


def test_long_tracebacks_are_capped() -> None:
    """Frames keep the innermost MAX_FRAMES; the text keeps its head and tail."""
    frames = []
    for i in range(MAX_FRAMES + 30):
        frames += [f'  File "/srv/app/mod{i}.py", line {i + 1}, in fn{i}', "    " + "x" * 200]
    lines = ["Traceback (most recent call last):", *frames, "RecursionError: too deep"]
    info = parse_traceback(lines)
    assert len(info.frames) == MAX_FRAMES
    assert info.frames_omitted == 30
    assert info.frames[-1]["function"] == f"fn{MAX_FRAMES + 29}"
    assert len(info.text) < MAX_TEXT + 100
    assert info.text.startswith("Traceback")
    assert info.text.endswith("RecursionError: too deep")
    assert info.attributes()["frames_omitted"] == 30


def test_is_traceback_start_needs_the_header_at_line_start() -> None:
    """Only a line opening with the header starts a traceback."""
    assert is_traceback_start(b"Traceback (most recent call last):\r")
    assert not is_traceback_start(b"  Traceback (most recent call last):")
    assert not is_traceback_start(b"ERROR Traceback follows")
