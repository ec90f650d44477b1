"""Reading ``grace.jsonl`` back: filter, follow like ``tail -F``, and correlate a run.

These are the functions behind ``grace logs``; they replace the seeds' ``tail_logs`` and
``check_correlations`` scripts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

__all__ = ("LogStats", "correlate", "is_error_record", "iter_log_records")

_ERROR_LEVELS: Final = frozenset({"error", "critical", "exception", "fatal"})
_LINK_IDS: Final = ("event_id", "request_id", "verification_id")
_CHUNK: Final = 64 * 1024


@dataclass(slots=True)
class LogStats:
    """Counters a reader updates as it goes; pass one in to learn what was skipped.

    ``grace logs`` prints ``malformed`` on stderr when it is not zero.
    """

    lines: int = 0
    """Non-blank lines read."""
    malformed: int = 0
    """Lines that were not a JSON object (skipped)."""
    matched: int = 0
    """Records that passed the filters and were yielded."""
    reopened: int = 0
    """Times the file was reopened (rotation) or reread from the start (truncation)."""


def is_error_record(record: dict[str, Any]) -> bool:
    """Tell whether a record is an error: level error/critical, or it carries a traceback.

    Args:
        record: A parsed log record.

    Returns:
        ``True`` when ``grace logs --errors`` should show it.
    """
    return str(record.get("level", "")).lower() in _ERROR_LEVELS or bool(record.get("exception"))


def iter_log_records(
    path: Path,
    *,
    subsystem: str | None = None,
    run_id: str | None = None,
    errors_only: bool = False,
    follow: bool = False,
    poll_interval: float = 0.2,
    stop: Callable[[], bool] | None = None,
    from_end: bool = False,
    stats: LogStats | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Yield the records of a JSON-lines log that pass the filters, in file order.

    Malformed lines (not a JSON object) are skipped and counted in *stats*. Without
    *follow*, the file is read once to its end (a trailing line without a newline is parsed
    if it is complete JSON). With *follow*, the reader keeps polling like ``tail -F``: it
    waits for the file to appear, holds a partial last line until its newline arrives,
    rereads from the start when the file shrinks (truncation, ``copytruncate``), and
    switches to the new file when the path gets a new inode (rotation by rename) after
    draining the old one.

    Args:
        path: The log file (``<log_dir>/grace.jsonl``).
        subsystem: Keep records of this subsystem or its children (``sources`` keeps
            ``sources`` and ``sources.logtail``).
        run_id: Keep records whose ``run_id`` is this (see :func:`correlate` for the records
            related to a run that carry no ``run_id``).
        errors_only: Keep only :func:`is_error_record` records.
        follow: Keep waiting for new lines instead of stopping at the end of the file.
        poll_interval: Seconds to sleep between polls when following.
        stop: Called whenever the follower has caught up with the file; returning ``True``
            ends the iteration (everything written before that is yielded first). Without
            it, following ends only when the consumer stops iterating.
        from_end: When following, skip what the file already holds and yield only new
            records.
        stats: Counters to update.

    Yields:
        Each matching record, as parsed. Call ``close()`` on the generator (or let it be
        collected) to release the file when you stop early.

    Raises:
        FileNotFoundError: *path* does not exist and *follow* is off.
    """
    counters = stats if stats is not None else LogStats()
    lines = (
        _follow_lines(path, poll_interval, stop, from_end=from_end, stats=counters)
        if follow
        else _read_lines(path)
    )
    for line in lines:
        record = _parse(line, counters)
        if record is None or not _matches(record, subsystem, run_id, errors_only=errors_only):
            continue
        counters.matched += 1
        yield record


def correlate(path: Path, run_id: str) -> list[dict[str, Any]]:
    """Return every record of a run and of what led to it, in time order.

    A record belongs to the run when its ``run_id`` is *run_id*, or when it has no
    ``run_id`` and shares an ``event_id``, ``request_id`` or ``verification_id`` with a
    record that belongs (transitively: the webhook request that stored the event that
    started the run). Records of *other* runs are never pulled in, even when they share an
    event. ``playbook_id`` and ``step`` do not link records: they are not unique to a run.

    Args:
        path: The log file.
        run_id: The run to collect.

    Returns:
        The records, sorted by ``timestamp`` (file order among equal timestamps); empty when
        the run never logged.

    Raises:
        FileNotFoundError: *path* does not exist.
    """
    members: list[tuple[int, dict[str, Any]]] = []
    candidates: list[tuple[int, dict[str, Any]]] = []
    counters = LogStats()
    for index, line in enumerate(_read_lines(path)):
        record = _parse(line, counters)
        if record is None:
            continue
        if record.get("run_id") == run_id:
            members.append((index, record))
        elif record.get("run_id") is None and any(record.get(key) for key in _LINK_IDS):
            candidates.append((index, record))

    links = {(key, record[key]) for _, record in members for key in _LINK_IDS if record.get(key)}
    grew = True
    while grew and candidates:
        grew = False
        remaining = []
        for item in candidates:
            ids = {(key, item[1][key]) for key in _LINK_IDS if item[1].get(key)}
            if ids & links:
                members.append(item)
                links |= ids
                grew = True
            else:
                remaining.append(item)
        candidates = remaining
    members.sort(key=lambda item: (str(item[1].get("timestamp", "")), item[0]))
    return [record for _, record in members]


def _matches(
    record: dict[str, Any], subsystem: str | None, run_id: str | None, *, errors_only: bool
) -> bool:
    if subsystem is not None:
        own = str(record.get("subsystem", ""))
        if own != subsystem and not own.startswith(f"{subsystem}."):
            return False
    if run_id is not None and record.get("run_id") != run_id:
        return False
    return not errors_only or is_error_record(record)


def _parse(line: bytes, stats: LogStats) -> dict[str, Any] | None:
    if not line.strip():
        return None
    stats.lines += 1
    try:
        record = json.loads(line.decode("utf-8", errors="replace"))
    except ValueError:
        record = None
    if not isinstance(record, dict):
        stats.malformed += 1
        return None
    return record


def _read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from file


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _follow_lines(
    path: Path,
    poll_interval: float,
    stop: Callable[[], bool] | None,
    *,
    from_end: bool,
    stats: LogStats,
) -> Iterator[bytes]:
    file: BinaryIO | None = None
    identity: tuple[int, int] | None = None
    partial = b""
    skip_existing = from_end
    try:
        while True:
            if file is None:
                try:
                    file = path.open("rb")
                except FileNotFoundError:
                    file = None
                else:
                    identity = _identity(os.fstat(file.fileno()))
                    if skip_existing:
                        file.seek(0, os.SEEK_END)
                    # A file that appears later is new: read all of it.
                    skip_existing = False
            if file is not None:
                chunk = file.read(_CHUNK)
                if chunk:
                    *complete, partial = (partial + chunk).split(b"\n")
                    yield from complete
                    continue
                # Caught up: has the file been truncated or replaced under us?
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    current = None  # renamed away, not recreated yet: keep the old one
                if current is not None and _identity(current) != identity:
                    file.close()
                    file = None
                    if partial:  # the old file's last line will never be finished
                        yield partial
                        partial = b""
                    stats.reopened += 1
                    continue
                if current is not None and current.st_size < file.tell():
                    file.seek(0)
                    partial = b""
                    stats.reopened += 1
                    continue
            if stop is not None and stop():
                return
            time.sleep(poll_interval)
    finally:
        if file is not None:
            file.close()
