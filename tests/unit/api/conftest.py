"""Fixtures for the API's unit tests: an in-memory :class:`grace.ingest.Ingest` and a client.

The pipeline belongs to another package and :class:`~grace.ingest.Ingest` is the seam, so a
small fake that keeps what it was given is the honest test double here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from grace.api import create_app
from grace.events import Event
from grace.ingest import Submitted
from grace.sources.builtin.webhook import WebhookMapping

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"


def load_fixture(name: str) -> dict[str, Any]:
    """One Alertmanager payload from ``tests/fixtures/alertmanager``."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@dataclass
class FakeIngest:
    """Keeps submitted events (idempotent per source and key), episodes and heartbeats."""

    events: list[tuple[Event, str | None]] = field(default_factory=list)
    episodes: dict[str, str] = field(default_factory=dict)
    """Episode key → ``firing`` or ``resolved``."""
    episode_services: dict[str, str] = field(default_factory=dict)
    beats: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    """Every call in order (``submit:<id>``, ``open:<key>``, ``resolve:<key>``, ``beat:<name>``)."""
    fail_with: BaseException | None = None
    """Raised by every call when set (a store outage, a bug)."""
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def submit(self, event: Event, *, event_key: str | None = None) -> Submitted:
        """Accept an event once per (source, key or id)."""
        self._maybe_fail()
        self.calls.append(f"submit:{event.id}")
        identity = (event.source, event_key or event.id)
        if identity in self._seen:
            return Submitted(False, event.id, "duplicate")
        self._seen.add(identity)
        self.events.append((event, event_key))
        return Submitted(True, event.id)

    async def open_episode(self, key: str, *, service: str = "") -> bool:
        """Mark the episode firing."""
        self._maybe_fail()
        self.calls.append(f"open:{key}")
        fresh = self.episodes.get(key) != "firing"
        self.episodes[key] = "firing"
        self.episode_services[key] = service
        return fresh

    async def resolve_episode(self, key: str) -> bool:
        """Mark the episode resolved."""
        self._maybe_fail()
        self.calls.append(f"resolve:{key}")
        was_firing = self.episodes.get(key) == "firing"
        self.episodes[key] = "resolved"
        return was_firing

    async def heartbeat(self, name: str, *, detail: dict[str, object] | None = None) -> None:
        """Record the ping."""
        self._maybe_fail()
        self.calls.append(f"beat:{name}")
        self.beats.append((name, dict(detail or {})))


GRAFANA = WebhookMapping(
    message="{title}: {message}",
    service="commonLabels.service",
    default_service="web",
    severity="commonLabels.severity",
    severity_map={"P1": "critical"},
    event_key="groupKey",
    attributes={"state": "status", "labels": "commonLabels"},
)
"""A Grafana-style mapping used by the generic webhook tests (served as ``grafana``)."""

RAW = WebhookMapping()
"""All defaults: the body as the message and under ``payload``, keyed by its digest."""

ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
def ingest() -> FakeIngest:
    """A fresh fake ingest door."""
    return FakeIngest()


@pytest.fixture
def make_client(ingest: FakeIngest) -> ClientFactory:
    """Build a client on an app over ``ingest``; keyword arguments go to ``create_app``."""

    def make(**kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("webhooks", {"grafana": GRAFANA, "raw": RAW})
        raise_errors = kwargs.pop("raise_app_exceptions", True)
        kwargs.setdefault("auth", False)  # auth has its own tests, over a real store
        app = create_app(ingest, **kwargs)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        return httpx.AsyncClient(transport=transport, base_url="http://grace.test")

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the default app (webhooks ``grafana`` and ``raw``, 1 MiB body limit)."""
    async with make_client() as c:
        yield c


@pytest.fixture
def payload() -> Callable[[str], dict[str, Any]]:
    """Load an Alertmanager payload from ``tests/fixtures/alertmanager`` by file name."""
    return load_fixture
