"""``grace replay FILE``: a backtest. Feed yesterday's log (or an events JSONL) through the matcher
and the governor, in dry-run, and report what would have run. Writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grace.config import Settings
from grace.events import Event, event_from_dict
from grace.governance import (
    ChangeCalendar,
    Governor,
    auto_trigger,
    conditions,
    context_flags,
    recovery_signal,
)
from grace.governance._ruling import make_ruling
from grace.matching import Matcher, Trigger
from grace.pipeline import Decider
from grace.playbooks import Playbook
from grace.sources.builtin._lines import LineEvents
from grace.sources.builtin._traceback import TracebackCollector, is_traceback_start
from grace.types import RandomIds, SystemClock

__all__ = ("ReplayReport", "ReplayRow", "replay_file")

CHUNK = 8 * 1024 * 1024
TRACEBACK = r"^Traceback \(most recent call last\):"


@dataclass
class ReplayRow:
    """What one playbook would have done over the whole file."""

    playbook: str
    decision: str
    reason: str
    matches: int = 0
    incidents: set[str] = field(default_factory=set)
    """Distinct signatures: each would have been one run (repeats are suppressed while it is open)."""
    first_line: int = 0
    example: str = ""


@dataclass
class ReplayReport:
    """The backtest's result."""

    file: str
    format: str
    lines: int = 0
    events: int = 0
    rows: dict[tuple[str, str], ReplayRow] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "lines": self.lines,
            "events": self.events,
            "playbooks": [
                {
                    "playbook": r.playbook,
                    "decision": r.decision,
                    "reason": r.reason,
                    "matches": r.matches,
                    "incidents": len(r.incidents),
                    "first_line": r.first_line,
                    "example": r.example,
                }
                for r in sorted(self.rows.values(), key=lambda r: (r.first_line, r.playbook))
            ],
        }


def _is_events_jsonl(path: Path) -> bool:
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                first = json.loads(line)
            except ValueError:
                return False
            return isinstance(first, dict) and ("event" in first or "kind" in first)
    return False


def _jsonl_events(path: Path) -> Iterator[tuple[int, int, Event]]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            data = json.loads(raw)
            data = data.get("event", data) if isinstance(data, dict) else data
            yield number, len(raw), event_from_dict(data, where=f"{path}:{number}")


def _log_events(path: Path, matcher: Matcher, service: str) -> Iterator[tuple[int, int, Event]]:
    """Only the lines some trigger (or a traceback header) hits become events: the fast path."""
    ids, clock = RandomIds(), SystemClock()
    build = LineEvents(
        source=f"replay:{path}",
        service=service,
        json_mode="auto",
        encoding_errors="replace",
        max_line_bytes=65536,
        new_id=lambda: ids.new("evt"),
        now=clock.now,
    )
    base = 0
    line_no = 0
    with path.open("rb") as fh:
        carry = b""
        while True:
            block = fh.read(CHUNK)
            data = carry + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            chunk, carry = data[:cut], data[cut:]
            pos, seen = 0, 0
            for hit in matcher.scan(chunk):
                seen += chunk.count(
                    b"\n", pos, hit.start
                )  # newlines before this hit, incrementally
                pos = hit.start
                line_no_at = line_no + seen + 1
                raw = chunk[hit.start : hit.end]
                if is_traceback_start(raw):
                    collector = TracebackCollector(
                        raw.decode("utf-8", "replace"), offset=base + hit.start, now=0.0
                    )
                    after = chunk.find(b"\n", hit.end) + 1  # past this line's newline (CRLF too)
                    for following in chunk[after:].split(b"\n", 500)[:500]:
                        if not collector.feed(
                            following.decode("utf-8", "replace").rstrip("\r"), now=0.0
                        ):
                            break
                    event: Event | None = build.exception(
                        collector.lines, file=str(path), offset=base + hit.start
                    )
                else:
                    event = build.line(raw, file=str(path), offset=base + hit.start)
                if event is not None:
                    yield line_no_at, hit.end - hit.start, event
            line_no += chunk.count(b"\n")
            base += len(chunk)
            if not block:
                return


def replay_file(
    path: Path,
    settings: Settings,
    playbooks: dict[str, Playbook],
    matcher: Matcher,
    *,
    service: str = "",
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Backtest ``path`` against ``playbooks``: nothing is written, no action is called."""
    events_mode = _is_events_jsonl(path)
    report = ReplayReport(str(path), "events-jsonl" if events_mode else "log")
    # A backtest judges each event at its own time (change windows then, not now); the checks
    # that read live state (open incidents, silences, the circuit) have no past to read.
    calendar = ChangeCalendar(settings.governance.change_windows)
    governor = Governor(
        [
            recovery_signal,
            auto_trigger,
            conditions,
            make_ruling(settings.governance, calendar),
        ]
    )
    if events_mode:
        source = _jsonl_events(path)
    else:
        line_matcher = Matcher(
            [*matcher.triggers, Trigger("__traceback__", 0, "log_message", TRACEBACK, None, None)]
        )
        source = _log_events(path, line_matcher, service)
    decider = Decider.dry(
        governor=governor,
        playbooks=playbooks,
        matcher=matcher,
        settings=settings,
        flags=lambda now: context_flags(calendar, now),
    )
    for line_no, size, event in source:
        report.events += 1
        if progress is not None:
            progress(size)
        for outcome in decider.decide(event, now=event.time):
            decision, match = outcome.decision, outcome.match
            key = (decision.playbook, decision.kind.value)
            row = report.rows.get(key)
            if row is None:
                row = report.rows[key] = ReplayRow(
                    decision.playbook,
                    decision.kind.value,
                    decision.reason,
                    first_line=line_no,
                    example=event.message[:200],
                )
            row.matches += 1
            row.incidents.add(match.signature)
    if not events_mode:
        with path.open("rb") as fh:
            report.lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(CHUNK), b""))
    else:
        report.lines = report.events
    return report
