"""Helpers shared by the matcher tests: events, triggers, backends available here, a reference."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from grace.events import Event
from grace.matching import BACKEND_NAMES, LineHit, Trigger

_MODULES = {"hyperscan": "hyperscan", "re2": "re2"}


def backend_missing(name: str) -> str | None:
    """Why ``name`` cannot run here, or None when it can."""
    module = _MODULES.get(name)
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"{name} is not installed ({exc})"
    return None


def require_backend(name: str) -> None:
    """Skip when ``name`` is not installed; fail instead under ``GRACE_REQUIRE_ALL=1``."""
    reason = backend_missing(name)
    if reason is None:
        return
    if os.environ.get("GRACE_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (GRACE_REQUIRE_ALL=1: CI must provide it)")
    pytest.skip(reason)


def installed_backends() -> list[str]:
    """Backends importable here; all of them under ``GRACE_REQUIRE_ALL=1`` (missing ones fail)."""
    if os.environ.get("GRACE_REQUIRE_ALL") == "1":
        return list(BACKEND_NAMES)
    return [name for name in BACKEND_NAMES if backend_missing(name) is None]


def event(message: str = "", **fields: Any) -> Event:
    """An event with defaults: a ``log`` at ``error`` from no particular service."""
    values: dict[str, Any] = {
        "id": "evt_test",
        "time": datetime(2024, 3, 12, 10, 15, tzinfo=UTC),
        "source": "test",
        "kind": "log",
        "severity": "error",
        "message": message,
    }
    values.update(fields)
    return Event(**values)


def trigger(playbook: str = "pb", pattern: str | None = None, **fields: Any) -> Trigger:
    """A ``log_message`` trigger with no filters unless given."""
    values: dict[str, Any] = {
        "playbook": playbook,
        "index": 0,
        "type": "log_message",
        "pattern": pattern,
        "severity": None,
        "service": None,
    }
    values.update(fields)
    return Trigger(**values)


def reference_scan(buffer: bytes, patterns: Iterable[str]) -> list[LineHit]:
    """What ``Matcher.scan`` must return: ``re.search`` of every pattern on every line."""
    compiled = [re.compile(p, re.MULTILINE) for p in patterns]
    lines = buffer.split(b"\n")
    if not buffer or buffer.endswith(b"\n"):
        lines.pop()
    hits: list[LineHit] = []
    offset = 0
    for line in lines:
        body = line[:-1] if line.endswith(b"\r") else line
        text = body.decode("utf-8", "replace")
        ids = tuple(i for i, p in enumerate(compiled) if p.search(text))
        if ids:
            hits.append(LineHit(offset, offset + len(body), ids))
        offset += len(line) + 1
    return hits
