"""Matcher.scan: exactly the lines a per-line ``re.search`` finds, on every backend."""

from __future__ import annotations

import pytest
from matching_support import reference_scan, trigger

from grace.matching import LineHit, Matcher


def scan(backend: str, patterns: list[str], buffer: bytes) -> list[LineHit]:
    """Scan ``buffer`` with one trigger per pattern, and check it against the reference."""
    matcher = Matcher([trigger(f"p{i}", p) for i, p in enumerate(patterns)], backend=backend)
    assert matcher.patterns == tuple(dict.fromkeys(patterns))
    hits = matcher.scan(buffer)
    assert hits == reference_scan(buffer, matcher.patterns)
    return hits


def lines_of(buffer: bytes, hits: list[LineHit]) -> list[bytes]:
    """The text of each hit line."""
    return [buffer[h.start : h.end] for h in hits]


class TestLines:
    def test_reports_each_hit_line_with_offsets_and_patterns(self, backend: str) -> None:
        """Each hit is a line's byte range (without its newline) and the patterns it matches."""
        buffer = b"ok\nworker 7 died\nok again\ndatabase is locked; worker 9 died\n"
        hits = scan(backend, [r"worker (?P<id>\d+) died", "database is locked"], buffer)
        assert hits == [LineHit(3, 16, (0,)), LineHit(26, 59, (0, 1))]

    def test_many_patterns_many_lines(self, backend: str) -> None:
        """Hundreds of patterns over thousands of lines agree with the reference."""
        patterns = [rf"job (?P<job>sync-{k}-\d+) failed" for k in range(300)]
        lines = [
            f"job sync-{k % 400}-{k} {'failed' if k % 7 == 0 else 'done'}" for k in range(3000)
        ]
        buffer = "\n".join(lines).encode()
        hits = scan(backend, patterns, buffer)
        assert len(hits) == sum(1 for k in range(3000) if k % 7 == 0 and k % 400 < 300)

    def test_no_trailing_newline_last_line_is_complete(self, backend: str) -> None:
        """A buffer that does not end in a newline still has its last line scanned."""
        assert lines_of(b"a\nboom", scan(backend, ["boom$"], b"a\nboom")) == [b"boom"]

    def test_empty_buffer_and_empty_lines(self, backend: str) -> None:
        """Empty buffers give nothing; empty lines are lines (and ``^$`` finds them)."""
        assert scan(backend, ["x"], b"") == []
        hits = scan(backend, ["^$", "x"], b"\n\nx\n\n")
        assert [(h.start, h.end) for h in hits] == [(0, 0), (1, 1), (2, 3), (4, 4)]

    def test_crlf_line_endings(self, backend: str) -> None:
        """``\\r\\n`` endings: the ``\\r`` is not part of the line, so ``$`` works."""
        buffer = b"first\r\nboom\r\n\r\nlast boom\r"
        hits = scan(backend, ["boom$", r"^\s*$"], buffer)
        assert lines_of(buffer, hits) == [b"boom", b"", b"last boom"]

    def test_utf8_multibyte_text(self, backend: str) -> None:
        """Offsets are bytes; classes and ``.`` see characters, as ``re`` does on str."""
        buffer = "naïve ok\nutilisateur 李雷 bloqué\nüber é\n".encode()
        hits = scan(backend, [r"bloqu.$", r"\w+ é$", r"李.\s"], buffer)
        assert lines_of(buffer, hits) == ["utilisateur 李雷 bloqué".encode(), "über é".encode()]

    def test_invalid_utf8_reads_as_replacement_characters(self, backend: str) -> None:
        """Invalid bytes read as U+FFFD, and offsets still point into the original buffer."""
        buffer = b"ok\nbad \xff\xfe byte boom\n\xc3(\nboom\n"
        hits = scan(backend, ["boom", "\ufffd"], buffer)
        assert lines_of(buffer, hits) == [b"bad \xff\xfe byte boom", b"\xc3(", b"boom"]


class TestWithinOneLine:
    @pytest.mark.parametrize(
        ("pattern", "buffer"),
        [
            (r"error\s+code", b"an error\ncode 5\nerror   code 6\n"),
            (r"a[^x]b", b"a\nb\naqb\n"),
            (r"begin.*end", b"begin\nend\nbegin end\n"),
            (r"(?s)begin.*end", b"begin\nend\nbegin-end\n"),
            (r"\Aboot", b"reboot\nboot ok\n"),
            (r"done\Z", b"done\nnot done yet\n"),
            (r"(?<=\n)x", b"a\nx\n"),
            (r"\bword\b", b"words\na word\n"),
            (r"(?i)kelvin k", "KELVIN \u212a\nkelvin x\n".encode()),
            (r"(\w)\1", b"ab\naa\n"),
        ],
    )
    def test_patterns_never_span_lines(self, backend: str, pattern: str, buffer: bytes) -> None:
        """Patterns that could cross a newline in the buffer only match within one line."""
        scan(backend, [pattern], buffer)

    def test_line_anchors(self, backend: str) -> None:
        """``^`` and ``$`` anchor at every line, like ``re.search`` on the line alone."""
        buffer = b"Killed\nnot Killed\nKilled later\n"
        hits = scan(backend, ["^Killed$", "^Killed", "Killed$"], buffer)
        assert [h.pattern_ids for h in hits] == [(0, 1, 2), (2,), (1,)]


class TestFallback:
    def test_patterns_an_engine_refuses_fall_back_to_re(self, backend: str) -> None:
        """A pattern the engine cannot compile is still matched, with ``re``, and reported."""
        patterns = ["x{70000}", "^$", "boom"]
        matcher = Matcher([trigger(f"p{i}", p) for i, p in enumerate(patterns)], backend=backend)
        assert set(matcher.fallback_patterns) >= {"^$"}
        if backend != "re":
            assert "x{70000}" in matcher.fallback_patterns
        buffer = b"boom\n\n" + b"x" * 70000 + b"\n"
        assert matcher.scan(buffer) == reference_scan(buffer, patterns)

    def test_patterns_hyperscan_refuses_mid_pattern_anchors_still_prefiltered(self) -> None:
        """Anchors inside a pattern (which hyperscan refuses) are dropped, not the pattern."""
        from matching_support import require_backend

        require_backend("hyperscan")
        matcher = Matcher(
            [trigger(pattern=r"x*^boot"), trigger("q", pattern="z")], backend="hyperscan"
        )
        assert matcher.fallback_patterns == ()
        assert matcher.scan(b"boot\nreboot\n") == [LineHit(0, 4, (0,))]

    def test_needs_every_line_when_a_log_trigger_has_no_pattern(self) -> None:
        """A pattern-less log trigger means a log source cannot rely on scan alone."""
        assert Matcher([trigger(pattern=None)], backend="re").needs_every_line
        assert not Matcher([trigger(pattern="x")], backend="re").needs_every_line
        assert not Matcher([trigger(type="health")], backend="re").needs_every_line

    def test_triggers_of_pattern(self) -> None:
        """Pattern ids lead back to every trigger that uses the pattern."""
        a, b, c = trigger("a", "boom"), trigger("b", "other"), trigger("c", "boom")
        matcher = Matcher([a, b, c], backend="re")
        assert matcher.patterns == ("boom", "other")
        assert matcher.triggers_of_pattern(0) == (a, c)
