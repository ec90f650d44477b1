"""Tier 2 with real processes: ``grace serve`` and ``grace watchdog`` restart each other."""

from __future__ import annotations

import os
import signal

import pytest
from watchdog_helpers import Pair, eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_sigkill_of_serve_is_restarted_by_the_watchdog(pair: Pair) -> None:
    """SIGKILL ``grace serve`` → ``grace watchdog`` starts a new one (audited), and the new one
    runs and pings; the watchdog itself is untouched and exactly one serve runs."""
    pair.start("serve")
    serve = pair.healthy("serve")
    watchdog = pair.healthy("watchdog")  # serve started it: the mutual watch is on

    os.kill(serve, signal.SIGKILL)
    new_serve = pair.healthy("serve", other_than=serve)

    assert pair.running("watchdog") == watchdog, pair.output()
    started = [
        e
        for e in pair.store.audit_entries(action="watchdog.peer_started")
        if e.subject == "healer:serve"
    ]
    assert [e.payload["pid"] for e in started] == [new_serve], started
    assert started[0].actor == "watchdog"
    assert started[0].payload["reason"] == f"process {serve} is gone"


def test_sigkill_of_the_watchdog_is_restarted_by_serve(pair: Pair) -> None:
    """SIGKILL ``grace watchdog`` → ``grace serve`` starts a new one (audited); serve is
    untouched."""
    pair.start("watchdog")
    serve = pair.healthy("serve")  # the watchdog started it
    watchdog = pair.healthy("watchdog")

    os.kill(watchdog, signal.SIGKILL)
    new_watchdog = pair.healthy("watchdog", other_than=watchdog)

    assert pair.running("serve") == serve, pair.output()
    started = [
        e
        for e in pair.store.audit_entries(action="watchdog.peer_started")
        if e.subject == "healer:watchdog"
    ]
    assert started[-1].payload["pid"] == new_watchdog
    assert started[-1].actor == "serve"
    assert started[-1].payload["reason"] == f"process {watchdog} is gone"


def test_a_second_copy_refuses_to_start(pair: Pair) -> None:
    """While ``grace serve`` lives, another ``grace serve`` for the same data dir exits 75
    naming the live one, and the live one keeps its role."""
    pair.start("serve")
    serve = pair.healthy("serve")
    second = pair.start("serve")
    code = eventually(lambda: second.poll(), within=60, what="the second copy to exit")
    assert code == 75, pair.output()
    assert f"grace serve already runs for data dir {pair.data_dir} (pid {serve})" in pair.output()
    assert pair.running("serve") == serve


def test_a_requested_stop_is_not_undone(pair: Pair) -> None:
    """SIGTERM to ``grace serve`` (systemctl stop, Ctrl-C) is an operator's stop: it drains
    and exits 0, and ``grace watchdog`` keeps checking but does not start it again."""
    import time

    from grace.watchdog import WATCHDOG_ROW, read_record

    serve_proc = pair.start("serve")
    serve = pair.healthy("serve")
    pair.healthy("watchdog")
    os.kill(serve, signal.SIGTERM)
    assert eventually(lambda: serve_proc.poll() is not None, within=60) is True
    assert serve_proc.returncode == 0, pair.output()
    record = read_record(pair.data_dir, "serve")
    assert record is not None
    assert record.stopped_at is not None
    stopped = time.time()
    # The watchdog pings after each of its checks: 3 s of pings later it has checked often.
    eventually(
        lambda: pair.store.last_beats()[WATCHDOG_ROW].timestamp() > stopped + 3,
        what="3 s of watchdog checks after the stop",
    )
    assert pair.running("serve") is None
    starts = [
        e
        for e in pair.store.audit_entries(action="watchdog.peer_started")
        if e.subject == "healer:serve"
    ]
    assert starts == []
