"""The spool's files: durable appends, atomic rewrites, adoption of dead processes' leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from grace.sdk import default_spool_dir
from grace.sdk._spool import REJECTED_NAME, Spool


def _item(key: str) -> dict[str, Any]:
    return {"event": {"kind": "log", "message": key}, "event_key": key}


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _keys(items: list[dict[str, Any]]) -> list[str]:
    return [str(i["event_key"]) for i in items]


def test_append_and_rewrite(tmp_path: Path) -> None:
    """Appends add JSON lines; a rewrite replaces the file; rewriting nothing removes it."""
    spool = Spool(tmp_path / "s", pid=111)
    spool.append([_item("a"), _item("b")])
    spool.append([_item("c")])
    assert spool.path.name == "spool-111.jsonl"
    lines = spool.path.read_text().splitlines()
    assert [json.loads(line)["event_key"] for line in lines] == ["a", "b", "c"]

    spool.rewrite([_item("c")])
    assert [json.loads(line)["event_key"] for line in spool.path.read_text().splitlines()] == ["c"]
    assert not list((tmp_path / "s").glob("*.tmp"))
    spool.rewrite([])
    assert not spool.path.exists()


def test_adopts_dead_processes_files_once(tmp_path: Path) -> None:
    """A dead process's file is taken over (merged into ours, the old file gone); a second
    adopter finds nothing left."""
    directory = tmp_path / "s"
    dead = Spool(directory, pid=_dead_pid())
    dead.append([_item("a"), _item("b")])

    mine = Spool(directory, pid=os.getpid())
    assert _keys(mine.adopt()) == ["a", "b"]
    assert not dead.path.exists()
    assert _keys([json.loads(x) for x in mine.path.read_text().splitlines()]) == ["a", "b"]

    other = Spool(directory, pid=os.getpid() + 1_000_000)
    assert _keys(other.adopt()) == []


def test_live_processes_files_are_left_alone(tmp_path: Path) -> None:
    """The spool file of a process that is still running is its own business."""
    directory = tmp_path / "s"
    live = Spool(directory, pid=os.getppid())
    live.append([_item("theirs")])
    assert Spool(directory, pid=os.getpid()).adopt() == []
    assert live.path.exists()


def test_own_pid_leftovers_and_duplicates(tmp_path: Path) -> None:
    """A file already named with our pid (an earlier process that had it) is ours to deliver;
    the same key in two files is kept once."""
    directory = tmp_path / "s"
    earlier = Spool(directory, pid=os.getpid())
    earlier.append([_item("x"), _item("y")])
    dead = Spool(directory, pid=_dead_pid())
    dead.append([_item("y"), _item("z")])

    adopted = Spool(directory, pid=os.getpid()).adopt()
    assert sorted(_keys(adopted)) == ["x", "y", "z"]


def test_torn_lines_are_set_aside_not_dropped(tmp_path: Path) -> None:
    """A half-written last line (a crash mid-append) goes to the rejected file with the reason."""
    directory = tmp_path / "s"
    directory.mkdir()
    pid = _dead_pid()
    (directory / f"spool-{pid}.jsonl").write_text(
        json.dumps(_item("ok")) + "\n" + '{"event": {"kind": "lo'
    )
    adopted = Spool(directory, pid=os.getpid()).adopt()
    assert _keys(adopted) == ["ok"]
    (rejected,) = (directory / REJECTED_NAME).read_text().splitlines()
    record = json.loads(rejected)
    assert record["reason"] == f"unreadable line in spool-{pid}.jsonl"
    assert record["line"] == '{"event": {"kind": "lo'


def test_reject_keeps_the_report_and_reason(tmp_path: Path) -> None:
    """Rejected reports are appended with when and why."""
    spool = Spool(tmp_path, pid=1)
    spool.reject(_item("bad"), "HTTP 422: body.event.kind: …")
    record = json.loads((tmp_path / REJECTED_NAME).read_text())
    assert record["event_key"] == "bad"
    assert record["reason"].startswith("HTTP 422")
    assert record["rejected_at"] > 0


def test_default_spool_dir(monkeypatch: Any, tmp_path: Path) -> None:
    """``$XDG_CACHE_HOME/grace-sdk/<service>``, the service made safe for a file name."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_spool_dir("miner") == tmp_path / "grace-sdk" / "miner"
    assert default_spool_dir("a/b c") == tmp_path / "grace-sdk" / "a_b_c"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_spool_dir("miner") == tmp_path / "home" / ".cache" / "grace-sdk" / "miner"
