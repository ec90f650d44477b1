"""The restart budget of each peer process, shared by everyone who restarts it.

``grace serve`` restarting ``grace watchdog``, ``grace watchdog`` restarting ``grace serve``,
and the ``healer.restart`` action all draw on one budget per role, kept in
``<data_dir>/watchdog/limits.json`` (under ``flock``, wall-clock times). The rules are the
supervisor's (:mod:`grace.supervisor._policy`, docs/supervisor.md "Start limit"): a sliding
window of ``burst`` starts, exponential backoff after unstable runs, and a run up
``stable_after_s`` clears both. Only the emergency protocol (or ``reset_limits: true``)
resets a spent budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grace.supervisor._config import BackoffConfig, StartLimitConfig
from grace.supervisor._policy import StartLimiter, backoff_delay

__all__ = ("Budget", "StartBudget")


@dataclass(frozen=True)
class Budget:
    """One role's budget as read now."""

    starts: int
    """Starts within the window."""
    failures: int
    """Consecutive unstable runs (drives the backoff)."""
    may_start: bool
    """False: the start limit is hit (only a reset allows another start)."""
    not_before: float
    """Wall-clock time before which the backoff forbids a start."""


class StartBudget:
    """Reads and updates ``limits.json`` (one process at a time)."""

    def __init__(
        self,
        data_dir: Path,
        limit: StartLimitConfig,
        backoff: BackoffConfig,
        *,
        stable_after_s: float,
    ) -> None:
        self.path = data_dir / "watchdog" / "limits.json"
        self.limit = limit
        self.backoff = backoff
        self.stable_after_s = stable_after_s

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    data = {}
            except (OSError, ValueError):
                data = {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _limiter(self, entry: dict[str, Any], now: float) -> StartLimiter:
        limiter = StartLimiter(
            self.limit,
            deque(float(t) for t in entry.get("starts", [])),
            int(entry.get("failures", 0)),
        )
        last = entry.get("last_start")
        if last is not None and now - float(last) >= self.stable_after_s:
            limiter.mark_stable()  # the last one stayed up: a stable run clears the count
        limiter.count(now)
        return limiter

    @staticmethod
    def _save(entry: dict[str, Any], limiter: StartLimiter) -> None:
        entry["starts"] = list(limiter.starts)
        entry["failures"] = limiter.failures

    def read(self, role: str, now: float | None = None) -> Budget:
        """The budget of ``role`` now."""
        now = time.time() if now is None else now
        with self._locked() as data:
            entry = data.setdefault(role, {})
            limiter = self._limiter(entry, now)
            self._save(entry, limiter)
            delay = backoff_delay(self.backoff, limiter.failures)
            last = float(entry.get("last_start", 0.0))
            return Budget(
                starts=len(limiter.starts),
                failures=limiter.failures,
                may_start=limiter.may_start(now),
                not_before=last + delay if limiter.failures else 0.0,
            )

    def record_start(self, role: str, now: float | None = None) -> Budget:
        """Count an automatic start of ``role``; the run it replaces was unstable when the
        previous start is younger than ``stable_after_s``."""
        now = time.time() if now is None else now
        with self._locked() as data:
            entry = data.setdefault(role, {})
            last = entry.get("last_start")
            limiter = self._limiter(entry, now)
            if last is not None:
                limiter.record_end(stable=now - float(last) >= self.stable_after_s)
            limiter.record_start(now)
            entry["last_start"] = now
            self._save(entry, limiter)
            return Budget(len(limiter.starts), limiter.failures, limiter.may_start(now), 0.0)

    def reset(self, role: str) -> None:
        """Clear ``role``'s count and backoff (the emergency protocol, or ``reset_limits``)."""
        with self._locked() as data:
            data[role] = {}
