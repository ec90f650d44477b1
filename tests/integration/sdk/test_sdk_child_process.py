"""A real Python app using ``grace.sdk`` dies of ``import faiss``; Grace (a real HTTP receiver)
gets exactly one exception event, whether it was up at the time or came back later."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sdk_receiver import Receiver

APP = Path(__file__).resolve().parents[2] / "fixtures" / "sdk_app" / "app.py"

pytestmark = pytest.mark.slow


def _run_app(url: str, spool: Path, timeout_s: float = 2.0) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GRACE_URL": url,
        "GRACE_SDK_SPOOL": str(spool),
        "GRACE_SDK_TIMEOUT": str(timeout_s),
    }
    return subprocess.run(
        [sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _deliver(url: str, spool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grace.sdk.deliver", "--spool-dir", str(spool), "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _spooled(spool: Path) -> list[dict[str, object]]:
    """Every report waiting in the spool (any process's file)."""
    items = []
    for path in sorted(spool.glob("*.jsonl")):
        if path.name != "spool-rejected.jsonl":
            items += [json.loads(line) for line in path.read_text().splitlines() if line]
    return items


def test_faiss_really_is_missing() -> None:
    """The failure is real: ``faiss`` is not installed in this environment."""
    assert importlib.util.find_spec("faiss") is None


def test_app_crash_reaches_grace_once(receiver: Receiver, tmp_path: Path) -> None:
    """Grace up: one ``exception`` event with ``module=faiss``; the app still prints its traceback
    and exits 1; nothing is left in the spool; the SDK pulled in no heavy modules."""
    receiver.start()
    done = _run_app(receiver.url, tmp_path / "spool")

    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'faiss'" in done.stderr  # previous hook ran
    assert "heavy modules: []" in done.stdout
    events = receiver.wait_for(1)
    assert len(events) == 1
    event = events[0]
    assert event["kind"] == "exception"
    assert event["source"] == "sdk:miner"
    assert event["service"] == "miner"
    assert event["severity"] == "error"
    assert event["message"] == "ModuleNotFoundError: No module named 'faiss'"
    attributes = event["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["module"] == "faiss"
    assert attributes["exception_type"] == "ModuleNotFoundError"
    assert attributes["hook"] == "sys.excepthook"
    assert attributes["handled"] is False
    assert attributes["frames"][-1]["code"].startswith("import faiss")
    assert "Traceback (most recent call last)" in attributes["traceback"]
    assert attributes["pid"] > 0
    assert attributes["host"]
    assert attributes["python"].startswith(f"{sys.version_info.major}.")
    assert list(receiver.keys().values()) == [1]
    assert _spooled(tmp_path / "spool") == []


def test_grace_down_spools_then_deliver_sends_once(receiver: Receiver, tmp_path: Path) -> None:
    """Grace down: the app exits promptly and its event waits in the spool. Grace back:
    ``python -m grace.sdk.deliver`` sends it exactly once and the spool is empty after; a second
    drain sends nothing."""
    spool = tmp_path / "spool"
    started = time.monotonic()
    done = _run_app(receiver.url, spool)  # nothing listens: connection refused
    assert done.returncode == 1
    assert time.monotonic() - started < 10
    waiting = _spooled(spool)
    assert len(waiting) == 1
    assert waiting[0]["event"]["attributes"]["module"] == "faiss"  # type: ignore[index]
    key = waiting[0]["event_key"]

    receiver.start()
    drained = _deliver(receiver.url, spool)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "delivered 1" in drained.stdout
    assert receiver.keys() == {key: 1}
    assert _spooled(spool) == []
    assert not list(spool.glob("*.jsonl"))

    again = _deliver(receiver.url, spool)
    assert again.returncode == 0
    assert receiver.keys() == {key: 1}


def test_next_app_start_delivers_the_leftovers(receiver: Receiver, tmp_path: Path) -> None:
    """The next process of the service picks up the dead one's spool: both events arrive once."""
    spool = tmp_path / "spool"
    _run_app(receiver.url, spool)
    (left,) = _spooled(spool)

    receiver.start()
    _run_app(receiver.url, spool)
    events = receiver.wait_for(2)
    assert len(events) == 2
    keys = receiver.keys()
    assert keys[str(left["event_key"])] == 1
    assert set(keys.values()) == {1}
    assert _spooled(spool) == []


def test_grace_hanging_does_not_hold_the_app_at_exit(receiver: Receiver, tmp_path: Path) -> None:
    """Grace accepts but never answers: the app exits after about ``timeout_s`` and the event
    stays in the spool (never lost); later it is delivered under the same key."""
    spool = tmp_path / "spool"
    receiver.behaviour = ["hang"]
    receiver.start()
    started = time.monotonic()
    done = _run_app(receiver.url, spool, timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert elapsed < 6, f"exit took {elapsed:.1f}s"
    (left,) = _spooled(spool)
    first = receiver.received[0]["event_key"]
    assert left["event_key"] == first

    receiver.stop()
    receiver.behaviour = [202]
    receiver.start()
    assert _deliver(receiver.url, spool).returncode == 0
    assert receiver.keys() == {first: 2}  # the unanswered try, then the delivery: one key
    assert _spooled(spool) == []


def test_two_drainers_never_both_send(receiver: Receiver, tmp_path: Path) -> None:
    """Two processes draining the same leftovers at once: each report arrives exactly once
    (each spool file is claimed by an atomic rename)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    keys = [f"k{i:03d}" for i in range(200)]
    for part in range(4):
        lines = [
            json.dumps(
                {"event": {"kind": "log", "message": k, "source": "sdk:miner"}, "event_key": k}
            )
            for k in keys[part * 50 : (part + 1) * 50]
        ]
        (spool / f"claim-{dead_pid}-{part}.jsonl").write_text("\n".join(lines) + "\n")
    receiver.start()

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grace.sdk.deliver",
                "--spool-dir",
                str(spool),
                "--url",
                receiver.url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0

    assert sorted(receiver.keys()) == keys
    assert set(receiver.keys().values()) == {1}
    assert _spooled(spool) == []


FORKING_APP = """
import os, sys
import grace.sdk
client = grace.sdk.install(service="miner", url=sys.argv[1], spool_dir=sys.argv[2])
client.report("parent before fork")
client.flush(5)
pid = os.fork()
if pid == 0:
    client.report("from the child")
    os._exit(0 if client.flush(5) else 3)
_, status = os.waitpid(pid, 0)
quiet = os.fork()
if quiet == 0:
    sys.exit(0)  # reports nothing; its at-exit close must not wait on the parent's state
_, quiet_status = os.waitpid(quiet, 0)
assert os.waitstatus_to_exitcode(quiet_status) == 0
client.report("parent after fork")
sys.exit(os.waitstatus_to_exitcode(status) or (0 if client.flush(5) else 4))
"""


def test_a_forked_child_reports_on_its_own(receiver: Receiver, tmp_path: Path) -> None:
    """After ``fork()`` a child (no delivery thread inherited) still delivers its reports, a
    child that reports nothing exits at once, and the parent keeps delivering its own."""
    receiver.start()
    done = subprocess.run(
        [sys.executable, "-c", FORKING_APP, receiver.url, str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    messages = sorted(str(e["message"]) for e in receiver.events())
    assert messages == ["from the child", "parent after fork", "parent before fork"]
    assert set(receiver.keys().values()) == {1}
    pids = {e["attributes"]["pid"] for e in receiver.events()}
    assert len(pids) == 2
