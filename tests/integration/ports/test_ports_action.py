"""``ports.scan`` and ``ports.prune`` as a playbook step calls them, against real processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from grace.actions import ActionContext, default_registry
from grace.ports import read_monitor
from grace.store import open_store
from grace.types import SystemClock

pytestmark = pytest.mark.anyio

Listen = Callable[..., tuple[subprocess.Popen[str], int]]
"""The ``listen`` fixture (conftest.py): start a real listener, get it and its port."""


def _ctx(data_dir: Path) -> ActionContext:
    return ActionContext(
        run_id="run_ports", step="prune", attempt=1, clock=SystemClock(), data_dir=data_dir
    )


async def test_scan_action_lists_the_listener(listen: Listen, tmp_path: Path) -> None:
    """``ports.scan`` outputs the listener's pid and command line; it changes nothing."""
    proc, port = listen()
    defn = default_registry().get("ports.scan")
    params = defn.params.model_validate({"range": f"{port}-{port}"})
    result = await defn.fn(_ctx(tmp_path), params)
    assert result.ok
    assert not result.changed
    assert result.outputs["ports"] == [port]
    (found,) = result.outputs["listeners"]
    assert found["pid"] == proc.pid
    assert "grace-port-test" in found["cmdline"]
    assert result.summary == f"1 port(s) listened on in {port}-{port}: {port}"


def test_scan_action_refuses_a_bad_range() -> None:
    """The range is checked when the playbook loads, not when the step runs."""
    defn = default_registry().get("ports.scan")
    with pytest.raises(ValueError, match="is not LOW-HIGH"):
        defn.params.model_validate({"range": "eight-thousand"})


async def test_prune_action_removes_a_dead_owner_and_syncs_the_monitor(
    listen: Listen, tmp_path: Path, database_url: str
) -> None:
    """A declared port is adopted and monitored; its owner dies; ``ports.prune`` removes the
    row (audited, actor ``run:<id>``) and the monitor list empties."""
    proc, port = listen()
    defn = default_registry().get("ports.prune")
    params = defn.params.model_validate(
        {"range": f"{port}-{port}", "services": {"api": [port]}, "database_url": database_url}
    )
    first = await defn.fn(_ctx(tmp_path), params)
    assert first.outputs["monitor"] == [{"service": "api", "port": port}]
    assert read_monitor(tmp_path) == [("api", port)]
    proc.kill()
    proc.wait(timeout=10)
    dry = await defn.fn(_ctx(tmp_path), params.model_copy(update={"dry_run": True}))
    assert [p["verdict"] for p in dry.outputs["pruned"]] == ["dead_pid"]
    assert not dry.changed
    result = await defn.fn(_ctx(tmp_path), params)
    assert result.ok
    assert [p["port"] for p in result.outputs["pruned"]] == [port]
    assert result.summary.startswith(f"pruned 1 stale port(s): {port};")
    assert read_monitor(tmp_path) == []
    store = open_store(database_url)
    try:
        pruned = store.audit_entries(action="port.pruned")
        # still declared in config: the row stays, without an owner until someone listens
        (row,) = store.list_ports()
        assert (row.service, row.source, row.pid) == ("api", "declared", None)
    finally:
        store.close()
    assert [(e.actor, e.payload["verdict"]) for e in pruned] == [("run:run_ports", "dead_pid")]
