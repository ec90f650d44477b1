"""The ``heartbeat`` source's silence and recovery logic, on a fake clock and in-memory pings."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from grace.errors import ConfigError
from grace.events import Event
from grace.sources import SourceContext, SourceRegistry, SourceState
from grace.sources.builtin.heartbeat import Heartbeat, HeartbeatConfig
from grace.testing import FakeClock, SequentialIds

pytestmark = pytest.mark.anyio


class Pings:
    """In-memory stand-in for the heartbeat rows (``beat`` / ``last_beats``)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: dict[str, datetime] = {}

    def beat(self, name: str, *, detail: dict[str, Any] | None = None) -> datetime:
        """Record a ping now."""
        self.rows[name] = self.clock.now()
        return self.rows[name]

    def last_beats(self) -> dict[str, datetime]:
        """Every component's last ping."""
        return dict(self.rows)


class Harness:
    """A heartbeat source with its clock, pings and everything it emitted."""

    def __init__(self, tmp_path: Path, **fields: Any) -> None:
        self.clock = FakeClock()
        self.pings = Pings(self.clock)
        config = HeartbeatConfig.model_validate(
            {"type": "heartbeat", "name": "runner", "timeout_s": 30, **fields}
        )
        ctx = SourceContext(
            clock=self.clock,
            ids=SequentialIds(),
            state=cast(SourceState, self.pings),
            data_dir=tmp_path,
        )
        self.source = Heartbeat(config, ctx)
        self.emitted: list[tuple[Event, str | None]] = []

    async def emit(self, event: Event, key: str | None) -> None:
        """Collect."""
        self.emitted.append((event, key))

    async def check_at(self, *offsets: float) -> None:
        """Advance to each offset (seconds from the start) and check there."""
        start = FakeClock().now()
        for offset in offsets:
            self.clock.advance(
                (start + timedelta(seconds=offset) - self.clock.now()).total_seconds()
            )
            await self.source.check(self.emit)


async def test_silence_past_timeout_is_one_event(tmp_path: Path) -> None:
    """A ping, then 42 s of silence with a 30 s timeout: one error event, not one per check."""
    h = Harness(tmp_path, service="jobs")
    h.pings.beat("runner")
    await h.check_at(5, 25, 30, 42, 50, 80)

    assert len(h.emitted) == 1
    event, key = h.emitted[0]
    assert event.kind == "heartbeat"
    assert event.severity == "error"
    assert event.service == "jobs"
    assert event.source == "heartbeat:runner"
    assert event.message == "heartbeat 'runner' silent for 42s (timeout 30s)"
    assert event.attributes["component"] == "runner"
    assert event.attributes["last_seen"] == "2026-01-01T12:00:00+00:00"
    assert event.attributes["recovered"] is False
    assert key == "heartbeat:runner:silent:2026-01-01T12:00:00.000000Z"


async def test_pings_resume_is_a_recovery_event(tmp_path: Path) -> None:
    """After a silence event, the next ping makes one info event; a later silence is a new key."""
    h = Harness(tmp_path)
    h.pings.beat("runner")
    await h.check_at(31)
    h.clock.advance(44)  # t = 75 s
    h.pings.beat("runner")
    await h.check_at(76, 90, 100)
    await h.check_at(106)  # 31 s after the ping at 75 s

    kinds = [(e.severity, e.attributes["recovered"]) for e, _ in h.emitted]
    assert kinds == [("error", False), ("info", True), ("error", False)]
    resumed = h.emitted[1][0]
    assert resumed.message == "heartbeat 'runner' resumed after 75s of silence"
    assert len({k for _, k in h.emitted}) == 3


async def test_never_seen_counts_from_the_first_check(tmp_path: Path) -> None:
    """A component that never pinged is silent only once ``timeout_s`` passed since watching began."""
    h = Harness(tmp_path)
    await h.check_at(100, 120, 129)
    assert h.emitted == []
    await h.check_at(131)
    assert len(h.emitted) == 1
    assert h.emitted[0][0].message == (
        "heartbeat 'runner' silent for 31s (timeout 30s), never seen since Grace started watching"
    )
    assert h.emitted[0][0].attributes["last_seen"] is None


async def test_regular_pings_stay_quiet(tmp_path: Path) -> None:
    """Pings every 20 s with a 30 s timeout never make an event."""
    h = Harness(tmp_path)
    for t in range(0, 200, 20):
        await h.check_at(t)
        h.pings.beat("runner")
    assert h.emitted == []


async def test_other_components_pings_do_not_count(tmp_path: Path) -> None:
    """Only the configured component's pings keep it alive."""
    h = Harness(tmp_path)
    await h.check_at(0)
    h.pings.beat("someone-else")
    await h.check_at(31)
    assert len(h.emitted) == 1


async def test_run_checks_every_interval(tmp_path: Path) -> None:
    """``run`` sleeps ``check_interval_s`` on the injected clock between checks."""

    class Stop(Exception):
        pass

    h = Harness(tmp_path, check_interval_s=7)
    original = h.clock.sleep

    async def sleep(seconds: float) -> None:
        await original(seconds)
        if len(h.clock.sleeps) == 6:
            raise Stop

    h.clock.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(Stop):
        await h.source.run(h.emit)
    assert h.clock.sleeps == [7.0] * 6
    assert len(h.emitted) == 1  # never seen: silent once 30 s passed (checked at 35 s)
    assert h.emitted[0][0].attributes["silent_s"] == 35.0


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"mode": "file"}, "mode 'file' needs 'path'"),
        ({"path": "/tmp/x"}, "'path' is only read in mode 'file'"),
        ({"timeout_s": 0}, "field 'timeout_s'"),
        ({"name": ""}, "field 'name'"),
    ],
)
def test_bad_config(raw: dict[str, Any], fragment: str) -> None:
    """Heartbeat configs that cannot work are refused with the reason."""
    registry = SourceRegistry()
    registry.register_from(Heartbeat)
    with pytest.raises(ConfigError) as info:
        registry.parse({"type": "heartbeat", "name": "runner", **raw}, where="grace.yaml")
    assert fragment in str(info.value)
