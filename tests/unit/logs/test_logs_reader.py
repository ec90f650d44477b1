"""iter_log_records / correlate / format_record: reading grace.jsonl back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from grace.logs import (
    LOG_FILENAME,
    LogStats,
    correlate,
    format_record,
    is_error_record,
    iter_log_records,
)


def line(**fields: Any) -> str:
    """One JSON line, as configure_logging writes it."""
    record = {
        "timestamp": "2025-05-01T12:00:00.000000Z",
        "level": "info",
        "subsystem": "runner",
        "event_type": "t.x",
        "message": "m",
    }
    record.update(fields)
    return json.dumps(record) + "\n"


def append(path: Path, text: str) -> None:
    """Append raw text to a file, flushed."""
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


def deadline(seconds: float) -> Callable[[], bool]:
    """A ``stop`` callback that turns true after *seconds* (keeps follow tests bounded)."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def _points_at(fd: Path, target: Path) -> bool:
    try:
        return Path(os.readlink(fd)) == target
    except OSError:  # the fd closed while listing
        return False


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """An empty grace.jsonl."""
    path = tmp_path / LOG_FILENAME
    path.touch()
    return path


class TestRead:
    def test_reads_every_record_in_order(self, log_file: Path) -> None:
        """Without filters, every record comes back in file order."""
        append(log_file, "".join(line(message=str(n)) for n in range(3)))

        assert [r["message"] for r in iter_log_records(log_file)] == ["0", "1", "2"]

    def test_malformed_lines_are_skipped_and_counted(self, log_file: Path) -> None:
        """Garbage, non-object JSON and blank lines never stop the reader."""
        append(log_file, line(message="a") + "not json\n[1, 2]\n\n" + line(message="b"))
        stats = LogStats()

        records = list(iter_log_records(log_file, stats=stats))

        assert [r["message"] for r in records] == ["a", "b"]
        assert (stats.lines, stats.malformed, stats.matched) == (4, 2, 2)

    def test_trailing_line_without_newline(self, log_file: Path) -> None:
        """A complete last line without a newline is read; a torn one is counted malformed."""
        append(log_file, line(message="a") + line(message="b").rstrip("\n"))
        assert [r["message"] for r in iter_log_records(log_file)] == ["a", "b"]

        append(log_file, "\n" + line(message="c")[:20])
        stats = LogStats()
        assert len(list(iter_log_records(log_file, stats=stats))) == 2
        assert stats.malformed == 1

    def test_missing_file(self, tmp_path: Path) -> None:
        """Without follow, a missing file raises FileNotFoundError."""
        with pytest.raises(FileNotFoundError):
            list(iter_log_records(tmp_path / "nope.jsonl"))


class TestFilters:
    @pytest.fixture
    def mixed(self, log_file: Path) -> Path:
        """Records of two subsystems, two runs, and some errors."""
        append(
            log_file,
            line(message="1", subsystem="runner", run_id="r-1")
            + line(message="2", subsystem="sources", level="warning")
            + line(message="3", subsystem="sources.logtail", level="error")
            + line(message="4", subsystem="sourcesx", run_id="r-2")
            + line(message="5", subsystem="runner", run_id="r-1", exception="Traceback…")
            + line(message="6", subsystem="api", level="critical", run_id="r-2"),
        )
        return log_file

    def messages(self, path: Path, **filters: Any) -> list[str]:
        """Messages of the records that pass the filters."""
        return [r["message"] for r in iter_log_records(path, **filters)]

    def test_subsystem_includes_children(self, mixed: Path) -> None:
        """--subsystem sources keeps sources and sources.* but not sourcesx."""
        assert self.messages(mixed, subsystem="sources") == ["2", "3"]

    def test_run(self, mixed: Path) -> None:
        """--run keeps the records whose run_id matches."""
        assert self.messages(mixed, run_id="r-1") == ["1", "5"]

    def test_errors(self, mixed: Path) -> None:
        """--errors keeps level error/critical and records with an exception."""
        assert self.messages(mixed, errors_only=True) == ["3", "5", "6"]

    def test_filters_combine(self, mixed: Path) -> None:
        """Filters are and-ed."""
        assert self.messages(mixed, run_id="r-2", errors_only=True) == ["6"]
        assert self.messages(mixed, run_id="r-1", subsystem="sources") == []

    def test_is_error_record(self) -> None:
        """Level names are compared case-insensitively; an exception field counts."""
        assert is_error_record({"level": "ERROR"})
        assert is_error_record({"level": "info", "exception": "Traceback"})
        assert not is_error_record({"level": "warning"})
        assert not is_error_record({})


class TestFollow:
    def test_sees_lines_appended_by_a_thread(self, log_file: Path) -> None:
        """Lines written while following are yielded as they arrive."""

        def write() -> None:
            for number in range(5):
                time.sleep(0.02)
                append(log_file, line(message=str(number)))

        writer = threading.Thread(target=write)
        writer.start()
        seen = []
        for record in iter_log_records(
            log_file, follow=True, poll_interval=0.01, stop=deadline(10)
        ):
            seen.append(record["message"])
            if len(seen) == 5:
                break
        writer.join()

        assert seen == ["0", "1", "2", "3", "4"]

    def test_stop_drains_before_ending(self, log_file: Path) -> None:
        """stop is consulted only once caught up: everything written before it is yielded."""
        append(log_file, line(message="a") + line(message="b"))

        records = list(iter_log_records(log_file, follow=True, stop=lambda: True))

        assert [r["message"] for r in records] == ["a", "b"]

    def test_bounded_by_stop_when_nothing_comes(self, log_file: Path) -> None:
        """An idle follower returns once stop says so."""
        started = time.monotonic()

        assert (
            list(iter_log_records(log_file, follow=True, poll_interval=0.01, stop=deadline(0.2)))
            == []
        )
        assert time.monotonic() - started < 5

    def test_partial_line_waits_for_its_newline(self, log_file: Path) -> None:
        """A half-written line is held, not reported malformed, until it is complete."""
        text = line(message="torn")
        stats = LogStats()

        def write() -> None:
            append(log_file, text[:15])
            time.sleep(0.1)
            append(log_file, text[15:])

        writer = threading.Thread(target=write)
        writer.start()
        records = iter_log_records(
            log_file, follow=True, poll_interval=0.01, stop=deadline(10), stats=stats
        )
        first = next(records)
        records.close()
        writer.join()

        assert first["message"] == "torn"
        assert stats.malformed == 0

    def test_from_end_skips_existing_records(self, log_file: Path) -> None:
        """from_end=True yields only what is written after following starts."""
        append(log_file, line(message="old"))
        records = iter_log_records(
            log_file, follow=True, from_end=True, poll_interval=0.01, stop=deadline(10)
        )
        threading.Timer(0.05, append, args=(log_file, line(message="new"))).start()

        assert next(records)["message"] == "new"
        records.close()

    def test_waits_for_the_file_to_appear(self, tmp_path: Path) -> None:
        """Following a file that does not exist yet waits for it (tail -F)."""
        path = tmp_path / LOG_FILENAME
        threading.Timer(0.05, append, args=(path, line(message="first"))).start()

        records = iter_log_records(path, follow=True, poll_interval=0.01, stop=deadline(10))
        assert next(records)["message"] == "first"
        records.close()

    def test_filters_apply_while_following(self, log_file: Path) -> None:
        """Filters hold in follow mode too."""
        append(log_file, line(message="a", run_id="r-1") + line(message="b", run_id="r-2"))

        records = list(iter_log_records(log_file, run_id="r-2", follow=True, stop=lambda: True))

        assert [r["message"] for r in records] == ["b"]

    def test_survives_rotation(self, log_file: Path) -> None:
        """After a rename + new file, the old file is drained and the new one followed."""
        stats = LogStats()
        append(log_file, line(message="1"))
        records = iter_log_records(
            log_file, follow=True, poll_interval=0.01, stop=deadline(10), stats=stats
        )
        assert next(records)["message"] == "1"

        with log_file.open("a", encoding="utf-8") as old:  # the writer still holds the old file
            log_file.rename(log_file.with_name("grace.jsonl.1"))
            old.write(line(message="2"))
        append(log_file, line(message="3") + line(message="4"))

        assert [next(records)["message"] for _ in range(3)] == ["2", "3", "4"]
        records.close()
        assert stats.reopened == 1

    def test_survives_truncation(self, log_file: Path) -> None:
        """When the file shrinks (copytruncate), it is reread from the start."""
        stats = LogStats()
        append(log_file, "".join(line(message=f"old-{n}") for n in range(3)))
        records = iter_log_records(
            log_file, follow=True, poll_interval=0.01, stop=deadline(10), stats=stats
        )
        assert [next(records)["message"] for _ in range(3)] == ["old-0", "old-1", "old-2"]

        log_file.write_text(line(message="new"), encoding="utf-8")

        assert next(records)["message"] == "new"
        records.close()
        assert stats.reopened == 1

    def test_file_is_closed_when_the_consumer_stops(self, log_file: Path) -> None:
        """Closing the iterator closes the file (no leaked handle)."""
        fds = Path("/proc/self/fd")
        if not fds.exists():
            pytest.skip("needs /proc to list open files")

        def open_on_log() -> int:
            return sum(1 for fd in fds.iterdir() if _points_at(fd, log_file))

        append(log_file, line(message="a"))
        records = iter_log_records(log_file, follow=True, stop=deadline(10))
        next(records)
        assert open_on_log() == 1
        records.close()
        assert open_on_log() == 0

    def test_sees_records_from_another_process(self, tmp_path: Path) -> None:
        """A follower sees records that another Grace process logs through configure_logging."""
        script = textwrap.dedent(
            f"""
            import time
            from pathlib import Path
            from grace.logs import bind_context, configure_logging, get_logger

            configure_logging(log_dir=Path({str(tmp_path)!r}), console=False)
            log = get_logger("worker")
            with bind_context(run_id="r-9"):
                for n in range(5):
                    log.info("tick", event_type="worker.tick", n=n)
                    time.sleep(0.05)
            time.sleep(5)  # stay alive: the records must arrive before the process exits
            """
        )
        child = subprocess.Popen([sys.executable, "-c", script])
        try:
            seen: list[dict[str, Any]] = []
            records: Generator[dict[str, Any], None, None] = iter_log_records(
                tmp_path / LOG_FILENAME, follow=True, poll_interval=0.02, stop=deadline(30)
            )
            for record in records:
                seen.append(record)
                if len(seen) == 5:
                    break
            assert child.poll() is None  # seen while the writer was still running
        finally:
            child.kill()
            child.wait()

        assert [r["n"] for r in seen] == [0, 1, 2, 3, 4]
        assert {r["run_id"] for r in seen} == {"r-9"}


class TestCorrelate:
    def test_collects_the_run_and_what_led_to_it(self, log_file: Path) -> None:
        """The run's records plus the event and request behind it, in time order."""
        append(
            log_file,
            line(timestamp="2025-05-01T12:00:03Z", message="step", run_id="r-1", event_id="e-1")
            + line(
                timestamp="2025-05-01T12:00:01Z",
                message="event stored",
                event_id="e-1",
                request_id="q-1",
            )
            + line(timestamp="2025-05-01T12:00:00Z", message="webhook received", request_id="q-1")
            + line(
                timestamp="2025-05-01T12:00:02Z", message="other run", run_id="r-2", event_id="e-1"
            )
            + line(timestamp="2025-05-01T12:00:02Z", message="unrelated", event_id="e-9")
            + line(timestamp="2025-05-01T12:00:04Z", message="verified", verification_id="v-1")
            + line(
                timestamp="2025-05-01T12:00:04Z",
                message="done",
                run_id="r-1",
                verification_id="v-1",
            )
            + "garbage\n",
        )

        messages = [r["message"] for r in correlate(log_file, "r-1")]

        assert messages == ["webhook received", "event stored", "step", "verified", "done"]

    def test_unknown_run(self, log_file: Path) -> None:
        """A run that never logged gives an empty list."""
        append(log_file, line(run_id="r-1"))
        assert correlate(log_file, "r-404") == []

    def test_playbook_does_not_link_runs(self, log_file: Path) -> None:
        """Sharing a playbook_id does not pull in records of other runs."""
        append(
            log_file, line(run_id="r-1", playbook_id="pb") + line(playbook_id="pb", message="load")
        )
        assert [r["run_id"] for r in correlate(log_file, "r-1")] == ["r-1"]


class TestFormat:
    RECORD: dict[str, Any] = {
        "timestamp": "2025-05-01T12:34:56.789123Z",
        "level": "warning",
        "subsystem": "runner",
        "event_type": "step.retry",
        "message": "retrying step",
        "run_id": "r-1",
        "step": "restart",
        "attempt": 2,
        "reason": "connection refused",
    }

    def test_plain_line(self) -> None:
        """Time, level, subsystem, type, message, extras, then the ids in brackets."""
        assert format_record(self.RECORD, color=False) == (
            "12:34:56.789 WARNING runner step.retry retrying step"
            ' attempt=2 reason="connection refused" [run=r-1 step=restart]'
        )

    def test_color(self) -> None:
        """color=True adds ANSI styles; the text is unchanged underneath."""
        colored = format_record(self.RECORD, color=True)
        assert "\x1b[33m" in colored  # warning in yellow
        assert "\x1b[" not in format_record(self.RECORD, color=False)

    def test_exception_summary_and_full_traceback(self) -> None:
        """A traceback is summarised by its last line, or shown in full on request."""
        record = {
            **self.RECORD,
            "level": "error",
            "exception": "Traceback…\n  File x\nKeyError: 'k'",
        }
        assert format_record(record, color=False).endswith("! KeyError: 'k'")
        assert "\n" not in format_record(record, color=False)
        assert format_record(record, color=False, traceback=True).endswith(
            "  File x\nKeyError: 'k'"
        )

    def test_odd_records_do_not_raise(self) -> None:
        """Missing fields and unparsable timestamps are rendered, not fatal."""
        assert format_record({}, color=False) == "--:--:--.--- -       - -"
        assert format_record({"timestamp": "yesterday", "message": "m"}, color=True)
