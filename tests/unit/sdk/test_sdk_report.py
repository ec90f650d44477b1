"""What a report looks like on the wire: the event JSON built from an exception or a message."""

from __future__ import annotations

import json
import re
from typing import Any

from grace.events import event_from_dict
from grace.sdk._report import (
    MAX_FRAMES,
    MAX_TRACEBACK,
    envelope,
    exception_event,
    message_event,
)


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _import_faiss() -> BaseException:
    try:
        import faiss  # type: ignore[import-not-found]  # noqa: F401
    except ModuleNotFoundError as exc:
        return exc
    raise AssertionError("faiss is installed; this test needs it missing")


class TestExceptionEvent:
    def test_missing_module_is_captured(self) -> None:
        """``import faiss`` failing gives module=faiss, the type, the message and the frames."""
        event = exception_event(_import_faiss(), service="miner")
        attributes = event["attributes"]
        assert event["kind"] == "exception"
        assert event["source"] == "sdk:miner"
        assert event["service"] == "miner"
        assert event["severity"] == "error"
        assert event["message"] == "ModuleNotFoundError: No module named 'faiss'"
        assert attributes["module"] == "faiss"
        assert attributes["exception_type"] == "ModuleNotFoundError"
        assert attributes["exception_message"] == "No module named 'faiss'"
        assert attributes["frames"][-1]["function"] == "_import_faiss"
        assert attributes["frames"][-1]["code"].startswith("import faiss")
        assert attributes["traceback"].startswith("Traceback (most recent call last):")
        assert {"host", "pid", "python", "sdk_version", "program"} <= set(attributes)

    def test_grace_reads_it_back(self) -> None:
        """The JSON is an event Grace accepts: ``event_from_dict`` round-trips it."""
        event = exception_event(_import_faiss(), service="miner")
        parsed = event_from_dict(json.loads(json.dumps(event)))
        assert parsed.kind == "exception"
        assert parsed.id == event["id"]
        assert parsed.attributes["module"] == "faiss"
        assert parsed.time.tzinfo is not None

    def test_module_found_through_the_cause_chain(self) -> None:
        """An app wrapping the ImportError still reports which module was missing."""
        try:
            try:
                raise ImportError("cannot import name 'IndexFlatL2' from 'faiss'", name="faiss")
            except ImportError as inner:
                raise RuntimeError("vector backend unavailable") from inner
        except RuntimeError as exc:
            event = exception_event(exc, service="miner")
        assert event["attributes"]["module"] == "faiss"
        assert event["attributes"]["chain"] == ["RuntimeError", "ImportError"]
        assert event["message"] == "RuntimeError: vector backend unavailable"

    def test_no_module_attribute_for_other_errors(self) -> None:
        """Only import errors carry ``module``."""
        event = exception_event(_raised(ValueError("bad")), service="s")
        assert "module" not in event["attributes"]

    def test_qualified_type_for_non_builtins(self) -> None:
        """A library's exception type is named with its module."""
        exc = _raised(json.JSONDecodeError("Expecting value", "", 0))
        assert exception_event(exc, service="s")["attributes"]["exception_qualname"] == (
            "json.decoder.JSONDecodeError"
        )

    def test_sizes_are_bounded(self) -> None:
        """Deep recursion and huge messages are cut to the SDK's limits (the API takes 1 MiB)."""

        def recurse(n: int) -> None:
            if n == 0:
                raise ValueError("x" * 100_000)
            recurse(n - 1)

        try:
            recurse(300)
        except ValueError as exc:
            event = exception_event(exc, service="s")
        attributes = event["attributes"]
        assert len(attributes["frames"]) == MAX_FRAMES
        assert attributes["frames"][-1]["function"] == "recurse"
        assert len(attributes["traceback"]) < MAX_TRACEBACK + 100
        assert len(event["message"]) < 5000
        assert len(json.dumps(envelope(event))) < 200_000

    def test_caller_attributes_are_made_json_safe(self) -> None:
        """Attributes that JSON cannot hold are sent as their repr; huge ones are replaced."""

        class Thing:
            def __repr__(self) -> str:
                return "<Thing>"

        small = exception_event(_raised(ValueError()), service="s", attributes={"obj": Thing()})
        assert small["attributes"]["obj"] == "<Thing>"
        huge = exception_event(
            _raised(ValueError()), service="s", attributes={"blob": "x" * 1_000_000}
        )
        assert "blob" not in huge["attributes"]
        assert "attributes_dropped" in huge["attributes"]


class TestMessageEvent:
    def test_message_becomes_an_event(self) -> None:
        """A message becomes a ``log`` event with the process details."""
        event = message_event("queue is full", service="miner", severity="warning")
        assert (event["kind"], event["severity"], event["message"]) == (
            "log",
            "warning",
            "queue is full",
        )
        assert event["attributes"]["pid"] > 0

    def test_unknown_severity_falls_back_to_error(self) -> None:
        """A severity Grace does not know is sent as ``error`` rather than refused by the API."""
        assert message_event("x", service="s", severity="fatal")["severity"] == "error"


def test_envelope_keys_are_unique_and_ids_time_ordered() -> None:
    """Every report gets its own event_key; ids look like Grace's (``evt_`` + time + random)."""
    events: list[dict[str, Any]] = [message_event(str(i), service="s") for i in range(50)]
    keys = {envelope(e)["event_key"] for e in events}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
    ids = [e["id"] for e in events]
    assert all(re.fullmatch(r"evt_[0-9a-f]{22}", i) for i in ids)
    assert [i[:16] for i in ids] == sorted(i[:16] for i in ids)
