"""The SDK client against a real HTTP receiver: retries, lost answers, poison reports, ordering,
flush and close, many threads at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_receiver import Receiver

from grace.sdk import Client
from grace.sdk._transport import post


@pytest.fixture
def client(receiver: Receiver, tmp_path: Path) -> Iterator[Client]:
    """A client of the receiver with its spool in tmp_path; closed afterwards."""
    c = Client("miner", url=receiver.url, spool_dir=tmp_path / "spool", timeout_s=1.0)
    yield c
    c.close(0)


def _spool_lines(spool: Path) -> list[dict[str, object]]:
    items = []
    for path in sorted(spool.glob("*.jsonl")):
        if path.name != "spool-rejected.jsonl":
            items += [json.loads(line) for line in path.read_text().splitlines() if line]
    return items


def _messages(receiver: Receiver) -> list[str]:
    return [str(e["message"]) for e in receiver.events()]


def test_lost_answer_is_resent_with_the_same_key(receiver: Receiver, client: Client) -> None:
    """The receiver reads the report, then drops the connection: the client cannot know, so it
    resends, with the identical event_key (Grace's dedupe makes that one event)."""
    receiver.behaviour = ["drop", 202]
    receiver.start()
    client.report("database is locked")
    receiver.wait_for(2)
    assert client.flush(5)

    keys = receiver.keys()
    assert len(keys) == 1
    assert list(keys.values()) == [2]
    first, second = receiver.received
    assert first == second
    assert client.stats()["delivered"] == 1


def test_5xx_is_retried_until_accepted(receiver: Receiver, client: Client) -> None:
    """503, 503, then 202: the same report three times, then nothing pending."""
    receiver.behaviour = [503, 503, 202]
    receiver.start()
    client.report("boom")
    receiver.wait_for(3, timeout=15)
    assert client.flush(5)
    assert list(receiver.keys().values()) == [3]
    stats = client.stats()
    assert (stats["delivered"], stats["pending"], stats["retries"]) == (1, 0, 1)
    assert _spool_lines(client.spool_dir) == []


def test_while_grace_is_down_reports_wait_in_order(
    receiver: Receiver, client: Client, tmp_path: Path
) -> None:
    """Down: reports are spooled (flush says so at once); back: they arrive in the order made."""
    started = time.monotonic()
    for name in ("first", "second", "third"):
        client.report(name)
    assert client.flush(30) is False
    assert time.monotonic() - started < 5
    assert [i["event"]["message"] for i in _spool_lines(client.spool_dir)] == [  # type: ignore[index]
        "first",
        "second",
        "third",
    ]

    receiver.start()
    assert client.flush(10) is True
    assert _messages(receiver) == ["first", "second", "third"]
    assert set(receiver.keys().values()) == {1}
    assert _spool_lines(client.spool_dir) == []


def test_poison_report_is_set_aside_with_the_reason(receiver: Receiver, client: Client) -> None:
    """A 422 is not retried: the report goes to spool-rejected.jsonl with the reason, and the next
    report is delivered normally."""
    receiver.behaviour = [422, 202]
    receiver.start()
    client.report("bad one")
    client.report("good one")
    assert client.flush(5)

    assert _messages(receiver) == ["bad one", "good one"]
    rejected = (client.spool_dir / "spool-rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1
    record = json.loads(rejected[0])
    assert record["reason"].startswith("HTTP 422")
    assert record["event"]["message"] == "bad one"
    assert client.stats()["rejected"] == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (202, "delivered"),
        (200, "delivered"),
        (400, "reject"),
        (404, "reject"),
        (413, "reject"),
        (422, "reject"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_status_codes_decide_retry_or_reject(receiver: Receiver, status: int, kind: str) -> None:
    """2xx delivered; 408, 429 and 5xx retried; any other 4xx rejected for good."""
    receiver.behaviour = [status]
    receiver.start()
    outcome = post(
        f"{receiver.url}/api/events",
        {"event": {"message": "x"}, "event_key": "k"},
        timeout_s=2,
        headers={},
    )
    assert outcome.kind == kind


def test_unreachable_is_retry(receiver: Receiver) -> None:
    """Connection refused is a retry, never an exception."""
    outcome = post(f"{receiver.url}/api/events", {"event": {}}, timeout_s=1, headers={})
    assert outcome.kind == "retry"
    assert "refused" in outcome.detail.lower()


def test_close_with_grace_hanging_keeps_the_report(receiver: Receiver, tmp_path: Path) -> None:
    """Grace never answers: close() returns after its timeout and the report is in the spool."""
    receiver.behaviour = ["hang"]
    receiver.start()
    client = Client("miner", url=receiver.url, spool_dir=tmp_path / "spool", timeout_s=5.0)
    client.report("stuck")
    receiver.wait_for(1)
    started = time.monotonic()
    assert client.close(0.5) is False
    assert time.monotonic() - started < 2
    (item,) = _spool_lines(tmp_path / "spool")
    assert item["event_key"] == receiver.received[0]["event_key"]


def test_reports_after_close_are_spooled(receiver: Receiver, tmp_path: Path) -> None:
    """A report made after close (say, while the interpreter shuts down) is kept, not dropped."""
    client = Client("miner", url=receiver.url, spool_dir=tmp_path / "spool")
    client.close(0)
    client.report("late")
    assert [i["event"]["message"] for i in _spool_lines(tmp_path / "spool")] == ["late"]  # type: ignore[index]


def test_many_threads_while_down_then_up(receiver: Receiver, client: Client) -> None:
    """Eight threads report 50 each while Grace is down; once it is back, all 400 arrive, each
    exactly once."""

    def work(n: int) -> None:
        for i in range(50):
            client.report(f"t{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.flush(10)
    receiver.start()
    assert client.flush(30)
    assert len(receiver.keys()) == 400
    assert set(receiver.keys().values()) == {1}
    per_thread: dict[str, list[int]] = {}
    for message in _messages(receiver):
        thread, index = message.split("-")
        per_thread.setdefault(thread, []).append(int(index))
    assert all(indexes == sorted(indexes) for indexes in per_thread.values())


def test_bad_url_is_refused_at_once(tmp_path: Path) -> None:
    """A URL that is not http(s) is a ValueError naming it, not a silent spool."""
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Client("miner", url="127.0.0.1:8000", spool_dir=tmp_path)
