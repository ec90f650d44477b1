"""Component heartbeats: a monotonic time per component in memory, rows in the store.

A beat in memory is a dict write, cheap enough for any loop. The rows (``grace.runner``,
``grace.api``…, in the store's ``heartbeats`` table) are written by the watchdog at most once
per ``watchdog.heartbeat_s``, never per event: the other process (``grace watchdog``) and
``grace status`` read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = (
    "HEALER_ROWS",
    "SERVE_ROW",
    "WATCHDOG_ROW",
    "Heartbeats",
    "row_name",
)

SERVE_ROW = "grace.serve"
"""The row ``grace serve`` pings while its in-process watchdog runs."""
WATCHDOG_ROW = "grace.watchdog"
"""The row ``grace watchdog`` pings."""
HEALER_ROWS = ("grace.runner", "grace.api")
"""The two healer components (docs/watchdog.md): the self-healing runner, and the repair
intake (the HTTP API that coding and repair agents work through). Both stale: tier 3."""


def row_name(component: str) -> str:
    """The heartbeat row of an in-process component: ``runner`` → ``grace.runner``."""
    return f"grace.{component}"


class Heartbeats:
    """The last beat of each component of this process (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}

    def beat(self, name: str) -> None:
        """``name`` is alive now."""
        self._last[name] = self._clock()

    def age(self, name: str) -> float | None:
        """Seconds since ``name`` last beat (None: never)."""
        last = self._last.get(name)
        return None if last is None else self._clock() - last

    def beater(self, name: str) -> Callable[[], None]:
        """A no-argument callable that beats ``name`` (for ``on_beat`` style hooks)."""
        return lambda: self.beat(name)
