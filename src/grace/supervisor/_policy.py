"""Pure restart policy: whether to restart, how long to wait, and when to give up.

No I/O and no clock of its own: every method takes ``now`` (monotonic seconds), so tests
drive it with :class:`grace.testing.FakeClock`.

The start-limit counter's rules (docs/supervisor.md, "Start limit"):

1. **Sliding window.** Only automatic starts in the last ``window_s`` seconds count; older
   ones fall out one by one (not a fixed bucket that empties all at once).
2. **Stable run clears it.** A run that stays up ``reset_after_s`` without being declared
   unhealthy is *stable*: the count and the backoff go back to zero.
3. **A manual start clears it** (``grace services start|restart``, also from ``fatal``).
4. **Adoption is not a start.** A service found running when Grace starts is not counted.
5. **Fatal is sticky.** Once the limit is hit, nothing restarts the service until a manual
   start, and it stays ``fatal`` across Grace restarts (one incident per crash loop).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from grace.supervisor._config import BackoffConfig, RestartPolicy, StartLimitConfig

__all__ = ("ExitReason", "StartLimiter", "backoff_delay", "wants_restart")

ExitReason = Literal["exited", "unhealthy"]
"""Why a run ended: the process ended on its own, or its health checks failed."""


def wants_restart(policy: RestartPolicy, reason: ExitReason, exit_code: int | None) -> bool:
    """Does ``policy`` restart a run that ended for ``reason`` with ``exit_code``?

    ``exit_code`` is None when unknown (an adopted process) or negative for a signal; both
    count as failures. A hang (``unhealthy``) is always a failure.
    """
    if policy == "never":
        return False
    if policy == "always" or reason == "unhealthy":
        return True
    return exit_code != 0


def backoff_delay(config: BackoffConfig, failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next start after ``failures`` consecutive unstable runs.

    ``failures == 0`` (the run that ended was stable) restarts at once. Otherwise the delay is
    ``min(max_s, initial_s * multiplier**(failures-1))``, then ± ``jitter`` of it at random.
    """
    if failures <= 0:
        return 0.0
    base = min(config.max_s, config.initial_s * config.multiplier ** (failures - 1))
    if config.jitter and base:
        spread = base * config.jitter
        base += (rng or random).uniform(-spread, spread)
    return max(0.0, base)


@dataclass
class StartLimiter:
    """The start-limit count and the consecutive-failure count of one service."""

    limit: StartLimitConfig
    starts: deque[float] = field(default_factory=deque)
    """Monotonic times of the automatic starts still in the window."""
    failures: int = 0
    """Consecutive runs that ended before becoming stable (drives the backoff)."""

    def _expire(self, now: float) -> None:
        while self.starts and now - self.starts[0] >= self.limit.window_s:
            self.starts.popleft()

    def count(self, now: float) -> int:
        """Automatic starts within the window ending at ``now``."""
        self._expire(now)
        return len(self.starts)

    def may_start(self, now: float) -> bool:
        """False when another automatic start would exceed ``burst`` within ``window_s``."""
        return self.count(now) < self.limit.burst

    def record_start(self, now: float) -> None:
        """Count an automatic start (the first start by ``grace serve`` included)."""
        self._expire(now)
        self.starts.append(now)

    def record_end(self, *, stable: bool) -> int:
        """A run ended; returns the consecutive-failure count the backoff uses."""
        self.failures = 0 if stable else self.failures + 1
        return self.failures

    def mark_stable(self) -> None:
        """Rule 2: the run stayed up ``reset_after_s``; clear the count and the backoff."""
        self.starts.clear()
        self.failures = 0

    def reset(self) -> None:
        """Rule 3: a manual start clears everything."""
        self.mark_stable()
