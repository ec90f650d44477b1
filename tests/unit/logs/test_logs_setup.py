"""configure_logging / get_logger: what a JSON line holds, where it goes, and reconfiguration."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

import pytest
import structlog

from grace.errors import ConfigError
from grace.logs import (
    LOG_FILENAME,
    bind_context,
    configure_logging,
    get_logger,
    reset_logging,
)

ReadLog = Callable[[], list[dict[str, Any]]]


def read_records(path: Path) -> list[dict[str, Any]]:
    """Parse a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestJsonLines:
    def test_fixed_fields_and_extras(self, read_log: ReadLog) -> None:
        """A record has timestamp, level, subsystem, event_type, message and the extra keys."""
        get_logger("runner").info("step started", event_type="step.started", attempt=2)

        [record] = read_log()
        assert list(record)[:5] == ["timestamp", "level", "subsystem", "event_type", "message"]
        assert record["level"] == "info"
        assert record["subsystem"] == "runner"
        assert record["event_type"] == "step.started"
        assert record["message"] == "step started"
        assert record["attempt"] == 2
        assert "event" not in record

    def test_timestamp_is_iso_utc(self, read_log: ReadLog) -> None:
        """The timestamp is ISO-8601 in UTC, close to now."""
        get_logger("runner").info("x", event_type="t.x")

        stamp = read_log()[0]["timestamp"]
        assert stamp.endswith("Z")
        moment = datetime.fromisoformat(stamp)
        assert moment.tzinfo is not None
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 60

    def test_missing_event_type_defaults_to_subsystem_log(self, read_log: ReadLog) -> None:
        """Without event_type, the record gets ``<subsystem>.log``."""
        get_logger("sources.logtail").warning("file vanished")

        [record] = read_log()
        assert record["event_type"] == "sources.logtail.log"
        assert record["level"] == "warning"

    def test_correlation_ids_follow_fixed_fields(self, read_log: ReadLog) -> None:
        """Bound ids appear in the record, right after the fixed fields."""
        with bind_context(run_id="r-1", step="restart"):
            get_logger("runner").info("x", event_type="t.x", extra="y")

        [record] = read_log()
        assert record["run_id"] == "r-1"
        assert record["step"] == "restart"
        assert list(record)[5:] == ["run_id", "step", "extra"]

    def test_exception_field(self, read_log: ReadLog) -> None:
        """log.exception() renders the traceback into ``exception`` at level error."""
        log = get_logger("runner")
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            log.exception("step crashed", event_type="step.crashed")

        [record] = read_log()
        assert record["level"] == "error"
        assert record["exception"].startswith("Traceback")
        assert "ZeroDivisionError: boom" in record["exception"]
        assert "exc_info" not in record

    def test_unserialisable_values_are_rendered(self, read_log: ReadLog) -> None:
        """A value JSON cannot encode is written as its repr instead of failing the write."""
        get_logger("runner").info("x", event_type="t.x", path=Path("/tmp/x"))

        [record] = read_log()
        assert record["path"] == repr(Path("/tmp/x"))

    def test_one_line_per_record_even_with_newlines(self, log_dir: Path) -> None:
        """Newlines inside values are escaped: the file keeps one record per line."""
        get_logger("runner").info("line one\nline two", event_type="t.x")
        get_logger("runner").info("second", event_type="t.x")

        lines = (log_dir / LOG_FILENAME).read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["line one\nline two", "second"]

    def test_records_are_flushed_at_once(self, log_dir: Path) -> None:
        """Each record is on disk when the log call returns (another process can follow it)."""
        log = get_logger("runner")
        for number in range(3):
            log.info("tick", event_type="t.tick", n=number)
            assert len(read_records(log_dir / LOG_FILENAME)) == number + 1

    def test_threads_write_whole_lines(self, log_dir: Path) -> None:
        """Records logged from many threads at once never interleave within a line."""
        log = get_logger("runner")

        def work(thread: int) -> None:
            for number in range(50):
                log.info("tick", event_type="t.tick", thread=thread, n=number, pad="x" * 500)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        records = read_records(log_dir / LOG_FILENAME)
        assert len(records) == 400
        assert {(r["thread"], r["n"]) for r in records} == {
            (t, n) for t in range(8) for n in range(50)
        }


class TestLevels:
    def test_below_level_is_dropped(self, read_log: ReadLog) -> None:
        """At level INFO, debug records are not written."""
        log = get_logger("runner")
        log.debug("noise", event_type="t.debug")
        log.info("kept", event_type="t.info")

        assert [r["message"] for r in read_log()] == ["kept"]

    def test_debug_level(self, tmp_path: Path) -> None:
        """At level DEBUG (any case), debug records are written."""
        configure_logging(log_dir=tmp_path, level="debug", console=False)
        get_logger("runner").debug("detail", event_type="t.debug")

        assert read_records(tmp_path / LOG_FILENAME)[0]["level"] == "debug"

    def test_unknown_level_is_a_config_error(self, tmp_path: Path) -> None:
        """A bad level names the value and the allowed ones."""
        with pytest.raises(ConfigError, match="unknown log level 'LOUD'") as info:
            configure_logging(log_dir=tmp_path, level="LOUD")
        assert info.value.hint is not None
        assert "DEBUG, INFO, WARNING, ERROR, CRITICAL" in info.value.hint

    def test_unwritable_log_dir_is_a_config_error(self, tmp_path: Path) -> None:
        """A log dir that cannot be created is reported with the path and a hint."""
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")

        with pytest.raises(ConfigError, match="cannot write logs to") as info:
            configure_logging(log_dir=blocker / "logs")
        assert "GRACE_LOG_DIR" in (info.value.hint or "")


class TestStdlibRouting:
    def test_library_warnings_are_written(self, read_log: ReadLog) -> None:
        """A library's stdlib WARNING lands in the same file, with its logger as subsystem."""
        logging.getLogger("httpx").warning("retrying %s", "GET /health")

        [record] = read_log()
        assert record["subsystem"] == "httpx"
        assert record["event_type"] == "httpx.log"
        assert record["message"] == "retrying GET /health"
        assert record["level"] == "warning"

    def test_library_info_is_not_written(self, log_dir: Path) -> None:
        """Third-party INFO chatter is dropped (libraries are kept at WARNING and above)."""
        logging.getLogger("sqlalchemy.engine").info("SELECT 1")

        assert (log_dir / LOG_FILENAME).read_text(encoding="utf-8") == ""

    def test_library_records_carry_bound_ids(self, read_log: ReadLog) -> None:
        """A library warning logged inside a run carries the run's ids."""
        with bind_context(run_id="r-7"):
            logging.getLogger("httpx").error("connection refused")

        assert read_log()[0]["run_id"] == "r-7"

    def test_library_exceptions_are_rendered(self, read_log: ReadLog) -> None:
        """A stdlib logger.exception() gets the same ``exception`` field."""
        try:
            raise KeyError("missing")
        except KeyError:
            logging.getLogger("somelib").exception("failed")

        [record] = read_log()
        assert record["level"] == "error"
        assert "KeyError: 'missing'" in record["exception"]


class TestConsole:
    def test_console_true_writes_pretty_text_to_stderr(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """console=True adds a human rendering on stderr; stdout stays clean."""
        configure_logging(log_dir=tmp_path, console=True)
        get_logger("runner").info("step started", event_type="step.started")

        out, err = capsys.readouterr()
        assert out == ""
        assert "step started" in err
        assert "[runner]" in err
        assert "event_type=step.started" in err
        assert "\x1b[" not in err  # not a TTY: no colours

    def test_console_none_without_tty_is_silent(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """console=None writes nothing to the terminal when stderr is not a TTY."""
        configure_logging(log_dir=tmp_path, console=None)
        get_logger("runner").error("bad", event_type="t.bad")

        assert capsys.readouterr() == ("", "")
        assert read_records(tmp_path / LOG_FILENAME)[0]["message"] == "bad"

    def test_json_console(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """json_console=True writes the same JSON lines to stderr."""
        configure_logging(log_dir=tmp_path, console=True, json_console=True)
        get_logger("runner").info("hello", event_type="t.hello")

        line = capsys.readouterr().err.strip()
        assert json.loads(line) == read_records(tmp_path / LOG_FILENAME)[0]

    def test_console_tracebacks_do_not_show_locals(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Console tracebacks leave locals out: they would bypass redaction."""
        configure_logging(log_dir=tmp_path, console=True)
        password = "hunter2"  # noqa: F841 (a local that must not be printed)
        try:
            raise RuntimeError("failed")
        except RuntimeError:
            get_logger("runner").exception("crash", event_type="t.crash")

        err = capsys.readouterr().err
        assert "RuntimeError: failed" in err
        assert "hunter2" not in err


class TestReconfigure:
    def test_second_call_switches_files(self, tmp_path: Path) -> None:
        """A second configure_logging replaces the first: records go only to the new file."""
        configure_logging(log_dir=tmp_path / "a", console=False)
        get_logger("runner").info("first", event_type="t.x")
        configure_logging(log_dir=tmp_path / "b", console=False)
        get_logger("runner").info("second", event_type="t.x")

        assert [r["message"] for r in read_records(tmp_path / "a" / LOG_FILENAME)] == ["first"]
        assert [r["message"] for r in read_records(tmp_path / "b" / LOG_FILENAME)] == ["second"]

    def test_handlers_are_not_duplicated(self, tmp_path: Path) -> None:
        """Configuring twice into the same dir writes each record once."""
        configure_logging(log_dir=tmp_path, console=False)
        configure_logging(log_dir=tmp_path, console=False)
        get_logger("runner").info("once", event_type="t.x")

        assert len(read_records(tmp_path / LOG_FILENAME)) == 1

    def test_logger_made_before_configuration(self, tmp_path: Path) -> None:
        """A module-level logger created before configure_logging uses the configuration."""
        log = get_logger("early")
        configure_logging(log_dir=tmp_path, console=False)
        log.info("configured later", event_type="t.x")

        assert read_records(tmp_path / LOG_FILENAME)[0]["subsystem"] == "early"

    def test_reset_restores_stdlib_and_structlog(self, tmp_path: Path) -> None:
        """reset_logging removes Grace's handlers, restores levels and structlog's defaults."""
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        configure_logging(log_dir=tmp_path, level="DEBUG", console=False)
        assert len(root.handlers) == len(handlers) + 1

        reset_logging()
        assert root.handlers == handlers
        assert root.level == level
        assert logging.getLogger("grace").level == logging.NOTSET
        assert not structlog.is_configured()

    def test_reset_closes_the_file(self, tmp_path: Path) -> None:
        """After reset_logging nothing more is written to the old file."""
        configure_logging(log_dir=tmp_path, console=False)
        root = logging.getLogger()
        [handler] = [h for h in root.handlers if isinstance(h, WatchedFileHandler)]
        reset_logging()

        assert handler.stream is None  # closed
        logging.getLogger("httpx").warning("after reset")
        assert (tmp_path / LOG_FILENAME).read_text(encoding="utf-8") == ""

    def test_reset_without_configure_is_harmless(self) -> None:
        """reset_logging can be called when nothing was configured."""
        reset_logging()
        reset_logging()


class TestRotationOnTheWriter:
    def test_reopens_after_logrotate_rename(self, log_dir: Path) -> None:
        """When logrotate renames grace.jsonl away, the next record starts a new file."""
        log = get_logger("runner")
        log.info("before", event_type="t.x")
        path = log_dir / LOG_FILENAME
        path.rename(log_dir / "grace.jsonl.1")
        log.info("after", event_type="t.x")

        assert [r["message"] for r in read_records(log_dir / "grace.jsonl.1")] == ["before"]
        assert [r["message"] for r in read_records(path)] == ["after"]


def test_get_logger_needs_a_subsystem() -> None:
    """An empty subsystem is refused with an example of the right call."""
    with pytest.raises(ValueError, match="get_logger\\('runner'\\)"):
        get_logger("")
