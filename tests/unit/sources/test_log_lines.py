"""One log line → one event: level detection, JSON lines, cut lines, and the source's config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grace.errors import ConfigError
from grace.events import Event
from grace.sources import default_source_registry
from grace.sources.builtin._lines import LineEvents, detect_severity, severity_from_level
from grace.sources.builtin.log import LogSourceConfig
from grace.testing import FakeClock, SequentialIds


def _builder(**overrides: Any) -> LineEvents:
    """A LineEvents with test defaults (fake clock, sequential ids)."""
    ids, clock = SequentialIds(), FakeClock()
    values: dict[str, Any] = {
        "source": "log:/var/log/app.log",
        "service": "api",
        "json_mode": "auto",
        "encoding_errors": "replace",
        "max_line_bytes": 64 * 1024,
        "new_id": lambda: ids.new("evt"),
        "now": clock.now,
    }
    values.update(overrides)
    return LineEvents(**values)


def _line(raw: bytes, **overrides: Any) -> Event:
    """The event of ``raw`` (which must not be blank)."""
    event = _builder(**overrides).line(raw, file="/var/log/app.log", offset=42)
    assert event is not None
    return event


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("2026-01-01 12:00:00 CRITICAL disk gone", "critical"),
        ("FATAL: could not open relation", "critical"),
        ("2026-01-01 ERROR database is locked", "error"),
        ("[12] ERR connection reset", "error"),
        ("WARN pool nearly full", "warning"),
        ("WARNING: deprecated", "warning"),
        ("INFO retrying after error", "info"),
        ("DEBUG cache miss", "debug"),
        ("TRACE entering loop", "debug"),
        ("time=12 level=error msg=boom", "error"),
        ('level="warn" msg=slow', "warning"),
        ("2026/01/01 12:00:00 [error] 1234#0: upstream timed out", "error"),
        ("[Notice] child pid exited", "info"),
        ("request failed: requests.exceptions.ConnectionError", "error"),
        ("ValueError raised in worker", "error"),
        ("GET /health 200", "info"),
        ("an error occurred", "info"),
        ("ERRORS=0 INFORMATION", "info"),
    ],
)
def test_detect_severity(text: str, severity: str) -> None:
    """The first level token decides; an *Error/*Exception word means error; else info."""
    assert detect_severity(text) == severity


def test_severity_from_level_names() -> None:
    """Level names from JSON fields map case-insensitively; unknown names give None."""
    assert severity_from_level("Warning") == "warning"
    assert severity_from_level(" FATAL ") == "critical"
    assert severity_from_level("verbose") is None


def test_plain_line_event_shape() -> None:
    """A plain line: kind log, message without CR, the source/service, file and offset."""
    event = _line(b"2026-01-01 ERROR database is locked\r")
    assert event.kind == "log"
    assert event.message == "2026-01-01 ERROR database is locked"
    assert event.severity == "error"
    assert (event.source, event.service) == ("log:/var/log/app.log", "api")
    assert event.attributes == {"file": "/var/log/app.log", "offset": 42}
    assert event.id == "evt_000001"


def test_blank_lines_make_no_event() -> None:
    """Whitespace-only lines are skipped."""
    assert _builder().line(b"  \r", file="f", offset=0) is None


def test_long_lines_are_cut_and_flagged() -> None:
    """A line over max_line_bytes keeps its first bytes and says it was cut."""
    event = _line(b"ERROR " + b"x" * 200, max_line_bytes=100)
    assert len(event.message) == 100
    assert event.attributes["line_cut"] is True
    assert event.attributes["line_bytes"] == 206


def test_invalid_utf8_is_replaced() -> None:
    """Bytes that are not UTF-8 decode with U+FFFD by default (or as configured)."""
    assert _line(b"bad \xff byte").message == "bad \ufffd byte"
    assert _line(b"bad \xff byte", encoding_errors="backslashreplace").message == "bad \\xff byte"


def test_json_line_fields() -> None:
    """message/level/service come from their fields; the rest lands in attributes."""
    raw = json.dumps(
        {
            "msg": "database is locked",
            "levelname": "ERROR",
            "service": "vectors",
            "request_id": "r1",
            "offset": 7,
        }
    ).encode()
    event = _line(raw, service="")
    assert event.message == "database is locked"
    assert event.severity == "error"
    assert event.service == "vectors"
    assert event.attributes == {
        "request_id": "r1",
        "json_offset": 7,
        "file": "/var/log/app.log",
        "offset": 42,
        "json": True,
    }


def test_json_configured_service_wins_and_unknown_level_falls_back() -> None:
    """A configured service is kept (the field stays an attribute); an odd level is kept too."""
    raw = b'{"event": "GET /x failed: TimeoutError", "level": "loud", "service": "other"}'
    event = _line(raw)
    assert event.service == "api"
    assert event.severity == "error"
    assert event.attributes["service"] == "other"
    assert event.attributes["level"] == "loud"


def test_json_never_and_always() -> None:
    """``never`` keeps JSON as text; ``always`` flags a line that is not a JSON object."""
    raw = b'{"message": "hello", "level": "info"}'
    assert _line(raw, json_mode="never").message == raw.decode()
    event = _line(b"ERROR plain text", json_mode="always")
    assert event.message == "ERROR plain text"
    assert event.attributes["json_error"] == "not a JSON object"
    assert _line(b"[1, 2]").attributes.get("json") is None


def test_json_line_with_a_traceback_field_is_an_exception() -> None:
    """A structured log record carrying a formatted traceback becomes an exception event."""
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/store.py", line 12, in open\n'
        "    import faiss\n"
        "ModuleNotFoundError: No module named 'faiss'"
    )
    raw = json.dumps({"message": "vector store failed", "level": "error", "exception": trace})
    event = _line(raw.encode())
    assert event.kind == "exception"
    assert event.message == "ModuleNotFoundError: No module named 'faiss'"
    assert event.attributes["exception_type"] == "ModuleNotFoundError"
    assert event.attributes["frames"] == [
        {"file": "/srv/app/store.py", "line": 12, "function": "open"}
    ]
    assert event.attributes["log_message"] == "vector store failed"


def test_exception_event_shape() -> None:
    """The exception event: the final line as message, parsed attributes, file and offset."""
    lines = [
        "Traceback (most recent call last):",
        '  File "/srv/app/main.py", line 3, in <module>',
        "    import faiss",
        "ModuleNotFoundError: No module named 'faiss'",
    ]
    event = _builder().exception(lines, file="/var/log/app.log", offset=1234)
    assert event.kind == "exception"
    assert event.severity == "error"
    assert event.message == "ModuleNotFoundError: No module named 'faiss'"
    assert event.attributes["offset"] == 1234
    assert event.attributes["exception_message"] == "No module named 'faiss'"
    assert event.attributes["traceback"] == "\n".join(lines)


def test_config_defaults_and_name() -> None:
    """The config fills ``name`` from the path and accepts ``json:`` as the key."""
    config = LogSourceConfig.model_validate(
        {"type": "log", "path": "/var/log/*.log", "json": "never"}
    )
    assert config.name == "log:/var/log/*.log"
    assert config.json_mode == "never"
    assert (config.start_at, config.poll_interval_s, config.read_chunk) == ("end", 0.05, 1 << 20)
    named = LogSourceConfig.model_validate({"type": "log", "path": "/x", "name": "app"})
    assert named.name == "app"


def test_config_errors_name_the_field() -> None:
    """Bad values are reported through the registry with the field and the fix."""
    registry = default_source_registry()
    with pytest.raises(ConfigError, match=r"sources\[0\]: source 'log' field 'poll_interval_s'"):
        registry.parse({"type": "log", "path": "/x", "poll_interval_s": 0}, where="sources[0]")
    with pytest.raises(ConfigError, match=r"max_line_bytes .* must not exceed read_chunk"):
        registry.parse(
            {"type": "log", "path": "/x", "read_chunk": 1024, "max_line_bytes": 4096},
            where="sources[0]",
        )
    with pytest.raises(ConfigError, match="field 'start_at'"):
        registry.parse({"type": "log", "path": "/x", "start_at": "middle"}, where="sources[0]")
