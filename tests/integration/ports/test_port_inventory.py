"""The port inventory against real listening processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from grace.ports import PortsConfig, process_info, read_monitor, scan_ports, sync_ports
from grace.ports._inventory import monitor_path
from grace.store import Store, open_store
from grace.testing import FakeClock, SequentialIds

Listen = Callable[..., tuple[subprocess.Popen[str], int]]
"""The ``listen`` fixture (conftest.py): start a real listener, get it and its port."""


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on a fake clock (the grace period is counted on it)."""
    s = open_store(database_url, clock=FakeClock(), ids=SequentialIds())
    yield s
    s.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)


def _config(port: int, **kw: object) -> PortsConfig:
    return PortsConfig.model_validate({"range": [port, port], **kw})


def _advance(store: Store, seconds: float) -> None:
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(seconds)


def test_scan_finds_the_listener_with_its_pid_and_cmdline(listen: Listen) -> None:
    """A real child listening on a port: the scan names its pid, command line and create time."""
    proc, port = listen()
    (found,) = scan_ports(port, port)
    assert found.port == port
    assert found.pid == proc.pid
    assert "grace-port-test" in found.cmdline
    assert found.create_time == psutil.Process(proc.pid).create_time()
    assert found.describe().startswith(f"pid {proc.pid} (")


def test_claim_then_kill_prunes_the_dead_owner(
    store: Store, listen: Listen, tmp_path: Path
) -> None:
    """Scan observes the listener, a claim takes it over for a service, the child dies:
    prune removes the row as ``dead_pid``, with ``port.claimed`` and ``port.pruned`` audited."""
    proc, port = listen()
    config = _config(port)
    first = sync_ports(store, config, data_dir=tmp_path)
    (observed,) = first.registered
    assert (observed.source, observed.pid) == ("observed", proc.pid)
    claimed = store.claim_port(
        port, service="api", by="ops", pid=proc.pid, create_time=observed.create_time
    )
    assert (claimed.service, claimed.source) == ("api", "claimed")
    _kill(proc)
    report = sync_ports(store, config, data_dir=tmp_path, prune=True)
    (pruned,) = report.pruned
    assert pruned.kind == "dead_pid"
    assert f"owner pid {proc.pid} of api is gone" in pruned.reason
    assert store.list_ports() == []
    actions = [e.action for e in store.audit_entries(subject=f"port:{port}/tcp")]
    assert actions == ["port.claimed", "port.claimed", "port.pruned"]
    (entry,) = store.audit_entries(action="port.pruned")
    assert entry.payload["verdict"] == "dead_pid"
    assert entry.payload["service"] == "api"


def test_a_reused_pid_is_stale(store: Store, listen: Listen, tmp_path: Path) -> None:
    """The pid is alive but its create time is not the recorded one: another process → stale."""
    proc, port = listen()
    real = psutil.Process(proc.pid).create_time()
    store.claim_port(port, service="api", by="ops", pid=proc.pid, create_time=real - 1000)
    report = sync_ports(store, _config(port), data_dir=tmp_path, prune=True)
    (pruned,) = report.pruned
    assert pruned.kind == "pid_reused"
    assert "the pid was reused" in pruned.reason
    assert store.get_port(port) is None


def test_a_port_nobody_listens_on_goes_stale_after_the_grace_period(
    store: Store, tmp_path: Path
) -> None:
    """Unanswered within the grace period: ``quiet`` and kept; past it: pruned ``not_listening``."""
    port = _free_port()
    config = _config(port, grace_s=60)
    store.claim_port(port, service="api", by="ops")
    _advance(store, 59)
    report = sync_ports(store, config, data_dir=tmp_path, prune=True)
    assert report.pruned == []
    assert [v.kind for v in report.verdicts] == ["quiet"]
    _advance(store, 2)
    dry = sync_ports(store, config, data_dir=tmp_path, prune=True, dry_run=True)
    assert [v.kind for v in dry.pruned] == ["not_listening"]
    assert store.get_port(port) is not None  # a dry run changes nothing
    report = sync_ports(store, config, data_dir=tmp_path, prune=True)
    (pruned,) = report.pruned
    assert pruned.kind == "not_listening"
    assert "for 61s" in pruned.reason
    assert store.get_port(port) is None


def test_a_sighting_restarts_the_grace_period(store: Store, listen: Listen, tmp_path: Path) -> None:
    """Counted from the last time someone listened, not from the claim."""
    proc, port = listen()
    config = _config(port, grace_s=60)
    store.claim_port(port, service="api", by="ops", pid=proc.pid)
    _advance(store, 50)
    sync_ports(store, config, data_dir=tmp_path)  # seen at +50
    record = store.get_port(port)
    assert record is not None
    assert record.last_seen_at == store.clock.now()


def test_a_declared_port_held_by_another_process_is_a_conflict(
    store: Store, listen: Listen, tmp_path: Path
) -> None:
    """``ports.services`` declares the port for api; api's supervised process is not the one
    listening: a conflict, reported and neither pruned nor monitored."""
    api = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        state = tmp_path / "services" / "api.json"
        state.parent.mkdir()
        state.write_text(json.dumps({"name": "api", "status": "running", "pid": api.pid}))
        intruder, port = listen()
        config = _config(port, services={"api": [port]})
        report = sync_ports(store, config, data_dir=tmp_path, prune=True)
        (conflict,) = report.conflicts
        assert f"port {port} of api is held by another process: pid {intruder.pid}" in conflict
        assert f"not pid {api.pid}" in conflict
        assert report.pruned == []
        assert report.monitor == []
        (row,) = store.list_ports()
        assert (row.service, row.source, row.pid) == ("api", "declared", None)
    finally:
        _kill(api)  # type: ignore[arg-type]


def test_a_declared_port_adopts_its_listener_and_is_monitored(
    store: Store, listen: Listen, tmp_path: Path
) -> None:
    """No supervised pid known: whoever listens on a declared port becomes its owner
    (audited), and (api, port) is published to monitor.json atomically."""
    proc, port = listen()
    config = _config(port, services={"api": [port]})
    report = sync_ports(store, config, data_dir=tmp_path)
    (adopted,) = report.adopted
    assert (adopted.service, adopted.pid) == ("api", proc.pid)
    assert report.monitor == [("api", port)]
    assert read_monitor(tmp_path) == [("api", port)]
    body = json.loads(monitor_path(tmp_path).read_text())
    assert body["monitor"] == [{"service": "api", "port": port}]
    assert os.listdir(monitor_path(tmp_path).parent) == ["monitor.json"]  # no temp file left
    entries = store.audit_entries(action="port.claimed")
    assert [e.payload.get("adopted", False) for e in entries] == [False, True]
    _kill(proc)
    report = sync_ports(store, config, data_dir=tmp_path, prune=True)
    assert [v.kind for v in report.pruned] == ["dead_pid"]
    assert read_monitor(tmp_path) == []
    (row,) = store.list_ports()  # still declared: the row stays, its dead owner is cleared
    assert (row.service, row.source, row.pid) == ("api", "declared", None)
    (entry,) = store.audit_entries(action="port.pruned")
    assert entry.payload["kept_declared"] is True
    again = sync_ports(store, config, data_dir=tmp_path, prune=True)
    assert again.pruned == []  # nothing more to clear: no audit churn while it stays down


def test_claim_refuses_a_port_another_service_owns(store: Store) -> None:
    """A claimed or declared row is not taken over; an observed one is."""
    from grace.errors import ConfigError

    port = _free_port()
    store.claim_port(port, service="api", by="ops")
    with pytest.raises(ConfigError, match=f"port {port}/tcp is owned by 'api'"):
        store.claim_port(port, service="web", by="ops")
    assert store.claim_port(port, service="api", by="ops").service == "api"  # idempotent
    assert len(store.audit_entries(action="port.claimed")) == 1
    released = store.release_port(port, by="ops", reason="moved")
    assert released is not None
    assert store.release_port(port, by="ops") is None
    (entry,) = store.audit_entries(action="port.released")
    assert entry.payload == {"service": "api", "source": "claimed", "pid": None, "reason": "moved"}


def test_an_unreadable_owner_is_reported_not_fatal(listen: Listen) -> None:
    """Scanning as an unprivileged user: root's listener shows as "unknown owner", no crash.

    A forked child drops to user ``nobody`` and scans (psutil may not read root's sockets).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    import pwd

    nobody = pwd.getpwnam("nobody")
    _proc, port = listen()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            found = [item.to_json() for item in scan_ports(port, port)]
            os.write(write_end, json.dumps(found).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        out = fh.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (found,) = json.loads(out)
    assert found["pid"] is None
    assert found["owner"] == "unknown owner"


def test_a_declared_port_held_by_its_supervised_process_is_adopted(
    store: Store, listen: Listen, tmp_path: Path
) -> None:
    """The supervisor's state file names the listener as api's process: ``ok``, adopted, monitored."""
    proc, port = listen()
    state = tmp_path / "services" / "api.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"name": "api", "status": "running", "pid": proc.pid}))
    report = sync_ports(store, _config(port, services={"api": [port]}), data_dir=tmp_path)
    assert report.conflicts == []
    assert [r.pid for r in report.adopted] == [proc.pid]
    assert report.monitor == [("api", port)]


def test_prune_never_removes_a_row_that_changed_since_it_was_judged(
    store: Store, tmp_path: Path
) -> None:
    """Judged stale, then claimed again with a new owner before prune: the row stays."""
    port = _free_port()
    store.claim_port(port, service="api", by="ops", pid=2**22 + 17, create_time=1.0)  # no such pid
    stale = store.stale_ports([], processes=process_info, grace_s=60)
    assert [v.kind for v in stale] == ["dead_pid"]
    store.claim_port(port, service="api", by="ops", pid=os.getpid(), create_time=None)
    assert store.prune_ports(stale, by="ops") == []
    record = store.get_port(port)
    assert record is not None
    assert record.pid == os.getpid()
    assert store.audit_entries(action="port.pruned") == []
