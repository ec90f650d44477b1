"""The staleness rules, pure: a fake clock and made-up processes, no sockets, no database."""

from __future__ import annotations

from datetime import datetime

import pytest

from grace.ports import (
    Listener,
    PortRecord,
    PortsConfig,
    ProcessInfo,
    ProcessLookup,
    Source,
    Verdict,
    judge,
    monitor_list,
)
from grace.testing import FakeClock

CREATED = 1_700_000_000.0


def _record(clock: FakeClock, **kw: object) -> PortRecord:
    values: dict[str, object] = {
        "port": 8001,
        "service": "api",
        "source": "claimed",
        "claimed_at": clock.now(),
        "claimed_by": "ops",
    }
    values.update(kw)
    return PortRecord(**values)  # type: ignore[arg-type]


def _processes(*infos: ProcessInfo) -> dict[int, ProcessInfo]:
    return {info.pid: info for info in infos}


def _lookup(known: dict[int, ProcessInfo]) -> ProcessLookup:
    return lambda pid: known.get(pid, ProcessInfo(pid=pid, alive=False))


def _judge(
    record: PortRecord,
    now: datetime,
    *,
    listeners: list[Listener] | None = None,
    known: dict[int, ProcessInfo] | None = None,
    grace_s: float = 60,
    service_pid: int | None = None,
) -> str:
    lookup = _lookup(known or {})
    verdict = judge(
        record,
        listeners=listeners or [],
        processes=lookup,
        now=now,
        grace_s=grace_s,
        service_pid=service_pid,
    )
    return str(verdict.kind)


def test_dead_owner_is_stale_whatever_listens() -> None:
    """The row's pid is gone: ``dead_pid``, checked before anything else."""
    clock = FakeClock()
    record = _record(clock, pid=10, create_time=CREATED)
    held = [Listener(port=8001, address="127.0.0.1", pid=11, create_time=CREATED)]
    assert _judge(record, clock.now(), listeners=held) == "dead_pid"


def test_reused_pid_is_stale() -> None:
    """Alive, but created at another time: the pid now names another process."""
    clock = FakeClock()
    record = _record(clock, pid=10, create_time=CREATED)
    known = _processes(ProcessInfo(pid=10, alive=True, create_time=CREATED + 5))
    assert _judge(record, clock.now(), known=known) == "pid_reused"
    same = _processes(ProcessInfo(pid=10, alive=True, create_time=CREATED + 0.001))
    assert _judge(record, clock.now(), known=same) == "quiet"  # within psutil's tick


def test_unanswered_port_goes_stale_after_the_grace_period() -> None:
    """Counted from the last sighting, or from the claim when never seen."""
    clock = FakeClock()
    record = _record(clock)
    clock.advance(60)
    assert _judge(record, clock.now()) == "quiet"  # exactly the grace: not yet
    clock.advance(1)
    assert _judge(record, clock.now()) == "not_listening"
    seen = _record(clock, claimed_at=clock.now(), last_seen_at=clock.now())
    clock.advance(30)
    assert _judge(seen, clock.now()) == "quiet"
    assert _judge(seen, clock.now(), grace_s=0) == "not_listening"


def test_owner_or_its_descendant_listening_is_ok() -> None:
    """The owner listens, or a worker it forked does."""
    clock = FakeClock()
    record = _record(clock, pid=10, create_time=CREATED)
    known = _processes(
        ProcessInfo(pid=10, alive=True, create_time=CREATED),
        ProcessInfo(pid=12, alive=True, create_time=CREATED, ancestors=(10, 1)),
    )
    own = [Listener(port=8001, address="0.0.0.0", pid=10, create_time=CREATED)]
    worker = [Listener(port=8001, address="0.0.0.0", pid=12, create_time=CREATED)]
    assert _judge(record, clock.now(), listeners=own, known=known) == "ok"
    assert _judge(record, clock.now(), listeners=worker, known=known) == "ok"


def test_another_process_listening_is_a_conflict() -> None:
    """Someone else holds the owner's port: ``conflict`` (not stale: the owner lives)."""
    clock = FakeClock()
    record = _record(clock, pid=10, create_time=CREATED)
    known = _processes(
        ProcessInfo(pid=10, alive=True, create_time=CREATED),
        ProcessInfo(pid=20, alive=True, create_time=CREATED, ancestors=(1,)),
    )
    other = [Listener(port=8001, address="127.0.0.1", pid=20, name="nc", create_time=CREATED)]
    clock.advance(3600)
    verdict = judge(
        record,
        listeners=other,
        processes=_lookup(known),
        now=clock.now(),
        grace_s=60,
    )
    assert verdict.kind == "conflict"
    assert not verdict.stale
    assert "held by another process: pid 20 (nc), not pid 10" in verdict.reason


def test_declared_port_uses_the_supervised_pid() -> None:
    """A row with no pid: the service's supervised pid decides; none known → adopt the listener."""
    clock = FakeClock()
    record = _record(clock, source="declared")
    known = _processes(ProcessInfo(pid=20, alive=True, create_time=CREATED, ancestors=(1,)))
    other = [Listener(port=8001, address="127.0.0.1", pid=20, create_time=CREATED)]
    assert _judge(record, clock.now(), listeners=other, known=known, service_pid=10) == "conflict"
    own = judge(
        record,
        listeners=other,
        processes=_lookup(known),
        now=clock.now(),
        grace_s=60,
        service_pid=20,
    )
    assert (own.kind, own.adopt) == ("ok", other[0])  # the supervised process itself: adopted
    verdict = judge(
        record,
        listeners=other,
        processes=_lookup(known),
        now=clock.now(),
        grace_s=60,
    )
    assert (verdict.kind, verdict.adopt) == ("ok", other[0])


def test_unknown_owner_listening_counts_as_seen() -> None:
    """Access denied: the port is answered, by someone we cannot name; never a conflict."""
    clock = FakeClock()
    record = _record(clock, pid=10, create_time=CREATED)
    known = _processes(ProcessInfo(pid=10, alive=True, create_time=CREATED))
    hidden = [Listener(port=8001, address="127.0.0.1")]
    assert _judge(record, clock.now(), listeners=hidden, known=known) == "ok"


def test_monitor_list_has_owned_ports_that_are_held() -> None:
    """Only ``ok`` rows a service declared or claimed; observed ones and others are left out."""
    clock = FakeClock()
    lookup = _lookup({})
    held = [Listener(port=1, address="127.0.0.1")]

    def verdict(port: int, source: Source, service: str, *, listening: bool) -> Verdict:
        record = _record(clock, port=port, source=source, service=service)
        return judge(
            record,
            listeners=held if listening else [],
            processes=lookup,
            now=clock.now(),
            grace_s=60,
        )

    verdicts = [
        verdict(8003, "claimed", "web", listening=True),
        verdict(8001, "declared", "api", listening=True),
        verdict(8002, "observed", "python3", listening=True),
        verdict(8004, "claimed", "idle", listening=False),
    ]
    assert monitor_list(verdicts) == [("api", 8001), ("web", 8003)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("8000-8010", (8000, 8010)), ("9000", (9000, 9000)), ([7000, 7001], (7000, 7001))],
)
def test_range_setting_accepts_text_and_pairs(value: object, expected: tuple[int, int]) -> None:
    """``ports.range`` as ``LOW-HIGH``, one port, or a pair; env gives the section as JSON."""
    assert PortsConfig.model_validate({"range": value}).range == expected
    assert PortsConfig.model_validate('{"range": "1-2"}').range == (1, 2)


def test_a_port_declared_twice_is_refused() -> None:
    """Two services cannot declare the same port."""
    with pytest.raises(ValueError, match="port 8001 is declared by both 'api' and 'web'"):
        PortsConfig.model_validate({"services": {"api": [8001], "web": [8001]}})
