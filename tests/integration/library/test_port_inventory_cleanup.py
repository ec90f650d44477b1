"""The bundled ``port_inventory_cleanup`` playbook with real processes under a real daemon.

Two real listeners hold ports of a private range (never 8000-8010): ``api`` stays up, ``batch``
is killed, leaving a stale registry row. A real port watchdog (tests/fixtures/apps/port_watchdog/)
runs supervised by the daemon and reads the monitor list only when it starts. Three passes:
an explicit run, the playbook's hourly job fired through the daemon's schedule source, and a
snapshot failure in a service's log. Checked each time: the registry (``port.pruned`` audited),
``monitor.json`` (exactly the live ports), and whether the watchdog got a new pid — only when
its list changed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import psutil
import pytest

import grace
from grace.config import Settings
from grace.daemon import Daemon
from grace.ports import read_monitor
from grace.runs import Run, RunStatus
from grace.sources.builtin.schedule import Schedule, next_slot
from grace.supervisor import read_state
from grace.testing import eventually, free_port, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.postgres]

PLAYBOOK = Path(grace.__file__).resolve().parent / "library" / "port_inventory_cleanup.yaml"
PORTWATCH = (
    Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "port_watchdog" / "portwatch.py"
)
LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def free_block(size: int) -> int:
    """The first port of ``size`` consecutive free ports in 20000-29999 (below the ephemeral range)."""
    for base in range(20000, 30000 - size, size):
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    pytest.fail("no block of free ports in 20000-29999")


@pytest.fixture
def listen() -> Iterator[Callable[[int], subprocess.Popen[str]]]:
    """Start a real process listening on a port; all are killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", LISTEN, str(port)], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


until = partial(eventually, within=60, every=0.1)
"""Poll ``check`` until truthy (grace.testing.eventually; 60 s, every 0.1 s)."""


def watchdog_pid(data_dir: Path) -> int | None:
    state = read_state(data_dir, "portwatch")
    return state.pid if state is not None and state.status == "running" else None


def cleanup_runs(daemon: Daemon) -> list[Run]:
    runs = daemon.engine.store.list_runs()
    return [r for r in runs if r.playbook == "port_inventory_cleanup" and r.finished_at]


async def test_stale_ports_are_pruned_and_the_watchdog_restarted_only_when_needed(
    tmp_path: Path, database_url: str, listen: Callable[[int], subprocess.Popen[str]]
) -> None:
    """Explicit run: both ports monitored, watchdog restarted. batch dies; the hourly job:
    batch's row pruned (audited), monitor.json holds only api, watchdog restarted and loads
    it. A snapshot failure: nothing changed, so the watchdog keeps its pid."""
    base = free_block(4)
    api_port, batch_port = base, base + 1
    api, batch = listen(api_port), listen(batch_port)
    data_dir, log_dir = tmp_path / ".grace", tmp_path / "logs"
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    shutil.copy(PLAYBOOK, playbooks / PLAYBOOK.name)  # the bundled file as shipped
    backup_log = tmp_path / "backup.log"
    backup_log.touch()
    settings = Settings.model_validate(
        {
            "data_dir": data_dir,
            "log_dir": log_dir,
            "database_url": database_url,
            "playbook_dirs": [playbooks],
            "bundled_playbooks": False,
            "mode": "execute",
            "listen": f"127.0.0.1:{free_port()}",
            "drain_s": 5,
            "api": {"auth": False},
            "services": [
                {
                    "name": "portwatch",
                    "argv": [
                        sys.executable,
                        "-u",
                        str(PORTWATCH),
                        str(data_dir / "ports" / "monitor.json"),
                    ],
                }
            ],
            # No schedule source listed: grace serve adds one for the playbook's hourly trigger.
            "sources": [{"type": "log", "path": str(backup_log), "service": "backup"}],
            "config": {"ports_range": f"{base}-{base + 3}", "port_watchdog_service": "portwatch"},
        }
    )
    async with serving(settings) as daemon:
        store = daemon.engine.store
        for port, service, proc in ((api_port, "api", api), (batch_port, "batch", batch)):
            created = psutil.Process(proc.pid).create_time()
            store.claim_port(port, service=service, by="test", pid=proc.pid, create_time=created)
        first_pid = await until(lambda: watchdog_pid(data_dir), what="portwatch runs")
        await until(lambda: store.last_beats().get("grace.supervisor"), what="supervisor beats")

        # 1. An explicit run: the list goes from nothing to both ports: restart.
        one = await daemon.engine.execute("port_inventory_cleanup", requested_by="alice")
        assert one.status is RunStatus.SUCCEEDED, one.error
        assert one.outputs["prune"]["pruned"] == []
        both = [{"service": "api", "port": api_port}, {"service": "batch", "port": batch_port}]
        assert one.outputs["prune"]["monitor"] == both
        assert one.outputs["restart_watchdog"]["previous_pid"] == first_pid
        second_pid = one.outputs["restart_watchdog"]["pid"]
        assert second_pid != first_pid

        # 2. batch dies (a stale allocation); the hourly job fires through the schedule source.
        batch.kill()
        batch.wait(timeout=10)
        # The daemon's own schedule source fires the playbook's hourly job: its next slot, now
        # (the same claim-then-emit path as at the top of the hour; that fire is then a no-op).
        (schedule,) = [s for s in daemon.sources if isinstance(s, Schedule)]
        job = schedule.jobs["port_inventory_cleanup:0"]
        assert job.cron == "0 * * * *"
        slot = next_slot(job, daemon.engine.clock.now())
        await schedule._fire(job, slot, daemon.pipeline.emit, catch_up=False)
        two = await until(
            lambda: next((r for r in cleanup_runs(daemon) if r.trigger != "manual"), None),
            what="the scheduled run",
        )
        assert two.status is RunStatus.SUCCEEDED, two.error
        assert two.event["kind"] == "scheduled"
        pruned = two.outputs["prune"]["pruned"]
        assert [(p["port"], p["service"], p["verdict"]) for p in pruned] == [
            (batch_port, "batch", "dead_pid")
        ]
        assert [r.port for r in store.list_ports()] == [api_port]
        (entry,) = store.audit_entries(subject=f"port:{batch_port}/tcp", action="port.pruned")
        assert entry.actor == f"run:{two.id}"
        assert read_monitor(data_dir) == [("api", api_port)]
        assert two.outputs["restart_watchdog"]["previous_pid"] == second_pid
        third_pid = two.outputs["restart_watchdog"]["pid"]
        assert third_pid not in (first_pid, second_pid)
        watch_log = log_dir / "services" / "portwatch.log"
        await until(
            lambda: f'watching [["api", {api_port}]]' in watch_log.read_text(),
            what="the restarted watchdog loaded the new list",
        )

        # 3. A snapshot fails in a service's log: a pass, but nothing changed: no restart.
        with backup_log.open("a") as fh:
            fh.write("2026-11-22 09:00:00 ERROR backup: snapshot failed: /srv/data is busy\n")
        three = await until(
            lambda: next((r for r in cleanup_runs(daemon) if r.service == "backup"), None),
            what="the run on the snapshot failure",
        )
        assert three.status is RunStatus.SUCCEEDED, three.error
        assert "snapshot failed" in three.event["message"]
        assert three.outputs["prune"]["pruned"] == []
        assert not three.outputs.get("restart_watchdog")  # skipped: the list did not change
        assert read_monitor(data_dir) == [("api", api_port)]
        assert watchdog_pid(data_dir) == third_pid
    monitor = json.loads((data_dir / "ports" / "monitor.json").read_text())
    assert monitor["monitor"] == [{"service": "api", "port": api_port}]


async def test_observe_mode_only_proposes(
    tmp_path: Path, database_url: str, listen: Callable[[int], subprocess.Popen[str]]
) -> None:
    """In observe mode a snapshot failure yields a proposed run: the stale row stays, no
    monitor list is written."""
    base = free_block(2)
    doomed = listen(base)
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    shutil.copy(PLAYBOOK, playbooks / PLAYBOOK.name)
    backup_log = tmp_path / "backup.log"
    backup_log.touch()
    settings = Settings.model_validate(
        {
            "data_dir": tmp_path / ".grace",
            "log_dir": tmp_path / "logs",
            "database_url": database_url,
            "playbook_dirs": [playbooks],
            "bundled_playbooks": False,
            "mode": "observe",
            "listen": f"127.0.0.1:{free_port()}",
            "api": {"auth": False},
            "sources": [{"type": "log", "path": str(backup_log), "service": "backup"}],
            "config": {"ports_range": f"{base}-{base + 1}"},
        }
    )
    async with serving(settings) as daemon:
        store = daemon.engine.store
        created = psutil.Process(doomed.pid).create_time()
        store.claim_port(base, service="batch", by="test", pid=doomed.pid, create_time=created)
        doomed.kill()
        doomed.wait(timeout=10)
        with backup_log.open("a") as fh:
            fh.write("ERROR nightly: could not take a snapshot of /srv/data\n")
        (run,) = await until(lambda: store.list_runs(), what="a proposal")
        ports = [r.port for r in store.list_ports()]
    assert run.playbook == "port_inventory_cleanup"
    assert run.status is RunStatus.PROPOSED
    assert ports == [base]
    assert not (tmp_path / ".grace" / "ports" / "monitor.json").exists()
