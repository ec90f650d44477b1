"""The SDK's hooks in this process: sys.excepthook, threading.excepthook, asyncio, logging."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sdk_receiver import Receiver

import grace.sdk
from grace.sdk import Client


@pytest.fixture
def installed(receiver: Receiver, tmp_path: Path) -> Iterator[Client]:
    """``grace.sdk.install`` against a live receiver, with quiet previous hooks; undone after."""
    receiver.start()
    before = (sys.excepthook, threading.excepthook)
    sys.excepthook = lambda *args: None
    threading.excepthook = lambda args: None
    client = grace.sdk.install(service="miner", url=receiver.url, spool_dir=tmp_path / "spool")
    try:
        yield client
    finally:
        grace.sdk.uninstall(timeout=1)
        sys.excepthook, threading.excepthook = before


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    attributes = event["attributes"]
    assert isinstance(attributes, dict)
    return attributes


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_excepthook_reports_and_chains(receiver: Receiver, installed: Client) -> None:
    """An uncaught exception is reported once and still handed to the previous hook."""
    seen: list[type[BaseException]] = []
    previous = grace.sdk._hooks._state.excepthook
    grace.sdk._hooks._state.excepthook = lambda t, e, tb: seen.append(t)
    try:
        exc = _raised(ModuleNotFoundError("No module named 'faiss'", name="faiss"))
        sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        grace.sdk._hooks._state.excepthook = previous
    assert installed.flush(5)
    (event,) = receiver.events()
    assert _attributes(event)["module"] == "faiss"
    assert _attributes(event)["hook"] == "sys.excepthook"
    assert seen == [ModuleNotFoundError]


def test_keyboard_interrupt_is_not_a_failure(receiver: Receiver, installed: Client) -> None:
    """Ctrl-C is not reported."""
    exc = _raised(KeyboardInterrupt())
    sys.excepthook(type(exc), exc, exc.__traceback__)
    assert installed.flush(5)
    assert receiver.events() == []


def test_thread_exception_is_reported(receiver: Receiver, installed: Client) -> None:
    """An exception that ends a thread is reported with the thread's name."""

    def work() -> None:
        raise ValueError("worker lost its queue")

    thread = threading.Thread(target=work, name="ingest-worker")
    thread.start()
    thread.join()
    assert installed.flush(5)
    (event,) = receiver.events()
    assert event["message"] == "ValueError: worker lost its queue"
    assert _attributes(event)["thread"] == "ingest-worker"
    assert _attributes(event)["hook"] == "threading.excepthook"


def test_asyncio_handler_installed_inside_a_running_loop(
    receiver: Receiver, tmp_path: Path
) -> None:
    """``install()`` inside a running loop hooks that loop: a task exception never retrieved is
    reported once (the default handler's log line is not reported a second time)."""
    receiver.start()

    async def main() -> None:
        client = grace.sdk.install(service="miner", url=receiver.url, spool_dir=tmp_path / "s")
        loop = asyncio.get_running_loop()
        assert getattr(loop.get_exception_handler(), "_grace_sdk", False)

        async def fail() -> None:
            raise RuntimeError("index shard vanished")

        task = loop.create_task(fail())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del task
        gc.collect()  # the never-retrieved exception is reported when the task is collected
        assert client.flush(5)

    logging.getLogger("asyncio").disabled = True  # keep pytest's log capture quiet
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("asyncio").disabled = False
        grace.sdk.uninstall(timeout=1)
    events = receiver.events()
    assert [e["message"] for e in events] == ["RuntimeError: index shard vanished"]
    assert _attributes(events[0])["hook"] == "asyncio"
    assert "never retrieved" in _attributes(events[0])["asyncio_message"]


def test_asyncio_context_without_exception(receiver: Receiver, installed: Client) -> None:
    """A loop error without an exception becomes one ``log`` event, reported once."""

    async def main() -> None:
        grace.sdk.install_asyncio_handler()
        loop = asyncio.get_running_loop()
        loop.call_exception_handler({"message": "socket.send() raised exception."})

    logging.getLogger("asyncio").disabled = True
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("asyncio").disabled = False
    assert installed.flush(5)
    assert [(e["kind"], e["message"]) for e in receiver.events()] == [
        ("log", "socket.send() raised exception.")
    ]


def test_records_handler_reports_errors(receiver: Receiver, installed: Client) -> None:
    """Errors with exc_info become exception events, errors without become log events; warnings
    and the SDK's own records are not reported."""
    log = logging.getLogger("miner.index")
    log.error("index load failed", exc_info=_raised(OSError("disk on fire")))
    log.error("queue is 98% full")
    log.warning("just a warning")
    logging.getLogger("grace.sdk").error("the SDK talking about itself")
    assert installed.flush(5)

    events = receiver.events()
    assert [(e["kind"], e["message"]) for e in events] == [
        ("exception", "OSError: disk on fire"),
        ("log", "queue is 98% full"),
    ]
    assert _attributes(events[0])["log_message"] == "index load failed"
    assert _attributes(events[0])["logger"] == "miner.index"
    assert events[0]["severity"] == "error"


def test_recorded_then_reraised_is_reported_once(receiver: Receiver, installed: Client) -> None:
    """``log.exception`` then the same exception uncaught: one event, from the first hook."""
    exc = _raised(ImportError("cannot import name 'IndexFlatL2'", name="faiss"))
    logging.getLogger("miner").error("startup failed", exc_info=exc)
    sys.excepthook(type(exc), exc, exc.__traceback__)
    assert installed.flush(5)
    (event,) = receiver.events()
    assert _attributes(event)["hook"] == "logging"
    assert _attributes(event)["module"] == "faiss"


def test_uninstall_restores_everything(receiver: Receiver, tmp_path: Path) -> None:
    """After uninstall the hooks are the previous ones and no SDK handler is left on the root
    logger; installing twice leaves one handler."""
    receiver.start()
    before = (sys.excepthook, threading.excepthook, list(logging.getLogger().handlers))
    grace.sdk.install(service="a", url=receiver.url, spool_dir=tmp_path / "a")
    grace.sdk.install(service="b", url=receiver.url, spool_dir=tmp_path / "b")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, grace.sdk.GraceLogHandler)]
    assert len(ours) == 1
    client = grace.sdk.get_client()
    assert client is not None
    assert client.service == "b"
    assert grace.sdk.uninstall(timeout=1) is True
    assert grace.sdk.get_client() is None
    assert (sys.excepthook, threading.excepthook, logging.getLogger().handlers) == before


def test_reports_from_inside_the_sdk_are_ignored(receiver: Receiver, installed: Client) -> None:
    """Code running as the SDK (its thread, or a report being built) never reports itself."""
    with grace.sdk._client.quiet():
        assert installed.report("from inside") is None
        logging.getLogger("miner").error("logged from inside")
    assert installed.flush(5)
    assert receiver.events() == []


def test_install_needs_a_service() -> None:
    """install() without a service name says what it needs."""
    with pytest.raises(ValueError, match="needs service="):
        grace.sdk.install(service="")
