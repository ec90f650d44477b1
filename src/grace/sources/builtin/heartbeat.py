"""The ``heartbeat`` source: a component is alive while it pings; silence past its timeout is an
event, and a ping after the silence is a recovery event.

A ping is either a row written by the API (mode ``push``: ``POST /api/heartbeats/<name>`` →
``state.beat(name)``; rows survive restarts and are shared by every node) or the modification
time of a file the component touches (mode ``file``).

```yaml
sources:
  - type: heartbeat
    name: runner            # the component: the name it pings with
    timeout_s: 30
    check_interval_s: 5
    mode: push              # or: file, with path: /run/runner/alive
```

The silence event's key is the time of the last ping before it (or, for a component never seen,
the time this source started watching). So after a restart, or on a second node, the same silence
yields the same key and the store records it once.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import Field, model_validator

from grace.events import Event
from grace.sources._base import Emit, SourceConfig, SourceContext, source

__all__ = ("Heartbeat", "HeartbeatConfig")


class HeartbeatConfig(SourceConfig):
    """A component that must keep pinging."""

    name: str = Field(min_length=1, max_length=200)
    """The component's name: what it pings with (push) and what events call it."""
    timeout_s: float = Field(default=60.0, gt=0, le=7 * 86_400)
    """Silence longer than this is an event."""
    check_interval_s: float = Field(default=5.0, ge=0.1, le=3600)
    """How often to look at the last ping."""
    mode: Literal["push", "file"] = "push"
    """``push``: pings through the API (rows); ``file``: the mtime of ``path`` is the last ping."""
    path: str | None = None
    """For ``file`` mode: the file the component touches."""

    @model_validator(mode="after")
    def _path_matches_mode(self) -> HeartbeatConfig:
        if self.mode == "file" and not self.path:
            msg = "mode 'file' needs 'path' (the file whose modification time is the ping)"
            raise ValueError(msg)
        if self.mode == "push" and self.path:
            msg = "'path' is only read in mode 'file'; remove it or set mode: file"
            raise ValueError(msg)
        return self


@source("heartbeat", config=HeartbeatConfig)
class Heartbeat:
    """Watch a component's pings; one event when it falls silent, one when it pings again."""

    def __init__(self, config: HeartbeatConfig, ctx: SourceContext) -> None:
        self.config = config
        self.name = f"heartbeat:{config.name}"
        self._ctx = ctx
        self._watching_since: datetime | None = None
        self._last_file_ping: datetime | None = None
        self.silent_after: datetime | None = None
        """While silent: the ping (or watch start) the silence is counted from; else None."""

    async def run(self, emit: Emit) -> None:
        """Check every ``check_interval_s`` until cancelled."""
        while True:
            await self.check(emit)
            await self._ctx.clock.sleep(self.config.check_interval_s)

    async def check(self, emit: Emit) -> None:
        """Look at the last ping once; emit a silence or recovery event when the state changes."""
        now = self._ctx.clock.now()
        if self._watching_since is None:
            self._watching_since = now
        seen = await self.last_ping()
        if self.silent_after is not None and seen is not None and seen > self.silent_after:
            await self._emit_resumed(emit, seen)
        reference = seen if seen is not None else self._watching_since
        silent_s = (now - reference).total_seconds()
        if self.silent_after is None and silent_s > self.config.timeout_s:
            self.silent_after = reference
            await self._emit_silent(emit, seen, reference, silent_s)

    async def last_ping(self) -> datetime | None:
        """The last ping's time, or None when the component was never seen."""
        if self.config.mode == "file":
            assert self.config.path is not None  # the validator guarantees it
            mtime = await anyio.to_thread.run_sync(_mtime, Path(self.config.path))
            if mtime is not None:
                self._last_file_ping = mtime
            return self._last_file_ping
        beats = await anyio.to_thread.run_sync(self._ctx.state.last_beats)
        return beats.get(self.config.name)

    async def _emit_silent(
        self, emit: Emit, seen: datetime | None, reference: datetime, silent_s: float
    ) -> None:
        name, timeout = self.config.name, self.config.timeout_s
        message = f"heartbeat {name!r} silent for {silent_s:.0f}s (timeout {timeout:g}s)"
        if seen is None:
            message += ", never seen since Grace started watching"
            key = f"{self.name}:silent:never:{_stamp(reference)}"
        else:
            key = f"{self.name}:silent:{_stamp(reference)}"
        attributes = self._attributes(seen, silent_s)
        attributes["recovered"] = False
        await emit(self._event("error", message, attributes), key)

    async def _emit_resumed(self, emit: Emit, seen: datetime) -> None:
        assert self.silent_after is not None
        gap_s = (seen - self.silent_after).total_seconds()
        self.silent_after = None
        message = f"heartbeat {self.config.name!r} resumed after {gap_s:.0f}s of silence"
        attributes = self._attributes(seen, gap_s)
        attributes["recovered"] = True
        await emit(self._event("info", message, attributes), f"{self.name}:resumed:{_stamp(seen)}")

    def _attributes(self, seen: datetime | None, silent_s: float) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "component": self.config.name,
            "mode": self.config.mode,
            "last_seen": seen.isoformat() if seen else None,
            "silent_s": round(silent_s, 3),
            "timeout_s": self.config.timeout_s,
        }
        if self.config.path:
            attributes["path"] = self.config.path
        return attributes

    def _event(self, severity: Literal["error", "info"], message: str, attrs: Any) -> Event:
        return Event(
            id=self._ctx.ids.new("evt"),
            time=self._ctx.clock.now(),
            source=self.name,
            kind="heartbeat",
            service=self.config.service,
            severity=severity,
            message=message,
            attributes=attrs,
        )


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except FileNotFoundError:
        return None


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
