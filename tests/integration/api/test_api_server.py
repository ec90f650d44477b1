"""The ingestion API behind a real uvicorn server, over TCP, into a real SQLite store.

The ingest door here is a thin adapter over :class:`grace.store.Store` (the rows the pipeline
itself writes), so idempotency and episodes are checked in the database, not in a fake.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn

from grace.api import create_app
from grace.sources.builtin.webhook import WebhookMapping
from grace.store import Store, open_store
from grace.testing import StoreIngest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in a temporary folder."""
    s = open_store(f"sqlite:///{tmp_path / 'grace.db'}")
    yield s
    s.close()


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@pytest.fixture
async def base_url(store: Store) -> AsyncIterator[str]:
    """Serve the app with uvicorn on an ephemeral port of 127.0.0.1; yield its URL."""
    app = create_app(
        StoreIngest(store),
        webhooks={"grafana": WebhookMapping(message="{title}", event_key="groupKey")},
        auth=False,
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = _Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            await server.listening.wait()
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
        server.should_exit = True


def _payload(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def test_alertmanager_firing_resend_and_resolved_over_tcp(
    base_url: str, store: Store
) -> None:
    """Firing stores one event and opens the episode; the resend adds nothing; resolved closes it."""
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    async with httpx.AsyncClient(base_url=base_url) as client:
        firing = await client.post(
            "/api/webhooks/alertmanager",
            content=_payload("prometheus_docs_firing.json"),
            headers=headers,
        )
        assert firing.status_code == 200
        assert firing.json() == {"firing": 1, "resolved": 0, "duplicates": 0}
        again = await client.post(
            "/api/webhooks/alertmanager",
            content=_payload("prometheus_docs_firing.json"),
            headers=headers,
        )
        assert again.json() == {"firing": 1, "resolved": 0, "duplicates": 1}
        assert store.count_events() == 1
        assert store.episode_status("alertmanager:73146c87f74afe0a") == "firing"
        resolved = await client.post(
            "/api/webhooks/alertmanager",
            content=_payload("prometheus_docs_resolved.json"),
            headers=headers,
        )
        assert resolved.json() == {"firing": 0, "resolved": 1, "duplicates": 0}
    assert store.count_events() == 1
    assert store.episode_status("alertmanager:73146c87f74afe0a") == "resolved"


async def test_events_webhooks_and_heartbeats_over_tcp(base_url: str, store: Store) -> None:
    """Health, an SDK envelope sent twice, a generic webhook and a heartbeat, end to end."""
    envelope = {"event": {"kind": "exception", "message": "boom"}, "event_key": "spool:1"}
    async with httpx.AsyncClient(base_url=base_url) as client:
        health = await client.get("/health")
        assert health.json()["status"] == "ok"
        first = await client.post("/api/events", json=envelope)
        second = await client.post("/api/events", json=envelope)
        assert first.status_code == second.status_code == 202
        assert (first.json()["accepted"], second.json()["duplicates"]) == (1, 1)
        hook = await client.post(
            "/api/webhooks/grafana", json={"title": "HighLatency", "groupKey": "g1"}
        )
        assert hook.status_code == 202
        beat = await client.post("/api/heartbeats/backup", json={"ok": True})
        assert beat.status_code == 204
        bad = await client.post("/api/events", json={"kind": "nope"})
        assert bad.status_code == 422
        assert bad.json()["error"].startswith("body: kind 'nope' is not one of")
    assert store.count_events() == 2
    assert set(store.last_beats()) == {"backup"}


async def test_a_raw_http_request_like_curl(base_url: str, store: Store) -> None:
    """A hand-written HTTP/1.1 request on a plain socket, as curl would send it."""
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps({"kind": "log", "message": "from a socket"}).encode()
    request = (
        f"POST /api/events HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: curl/8.5.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body

    def exchange() -> bytes:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    answer = await anyio.to_thread.run_sync(exchange)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 202")
    assert json.loads(payload)["accepted"] == 1
    assert store.count_events() == 1


async def test_an_oversized_body_is_refused_over_tcp(base_url: str, store: Store) -> None:
    """A 2 MiB body gets a JSON 413 from the real server, and nothing is stored."""
    big = json.dumps({"kind": "log", "message": "x" * (2 * 1024 * 1024)}).encode()
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/api/events", content=big)
    assert response.status_code == 413
    assert response.json()["error"] == "request body is larger than the limit of 1 MiB"
    assert store.count_events() == 0
