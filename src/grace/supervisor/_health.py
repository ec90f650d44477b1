"""Health probes: one attempt of one check, bounded by its timeout.

A probe answers ``(ok, detail)`` and never raises for the service's failures (refused, timed
out, wrong status): those are the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable
from datetime import datetime
from typing import Any

from grace.supervisor._config import ExecCheck, HealthCheck, HeartbeatCheck, HttpCheck, TcpCheck

__all__ = ("Prober", "describe_check")

BeatReader = Callable[[], dict[str, datetime]]
"""Returns every heartbeat's last ping (``Store.last_beats``); called in a worker thread."""


def describe_check(check: HealthCheck) -> str:
    """A short label: ``http http://…/health``, ``tcp 127.0.0.1:80``…"""
    if isinstance(check, HttpCheck):
        return f"http {check.url}"
    if isinstance(check, TcpCheck):
        return f"tcp {check.host}:{check.port}"
    if isinstance(check, HeartbeatCheck):
        return f"heartbeat {check.name}"
    return f"exec {' '.join(check.argv)}"


class Prober:
    """Runs probes; holds the HTTP client shared by one service's HTTP checks."""

    def __init__(self, *, beats: BeatReader | None = None, now: Callable[[], datetime]) -> None:
        self._beats = beats
        self._now = now
        self._client: Any = None

    async def probe(self, check: HealthCheck) -> tuple[bool, str]:
        """One attempt; a probe still unanswered after ``timeout_s`` is a failure."""
        try:
            return await asyncio.wait_for(self._probe(check), check.timeout_s)
        except TimeoutError:
            return False, f"no answer within {check.timeout_s:g}s"
        except OSError as exc:
            return False, f"{type(exc).__name__}: {exc}"

    async def _probe(self, check: HealthCheck) -> tuple[bool, str]:
        if isinstance(check, HttpCheck):
            return await self._http(check)
        if isinstance(check, TcpCheck):
            _, writer = await asyncio.open_connection(check.host, check.port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True, "connected"
        if isinstance(check, HeartbeatCheck):
            return await self._heartbeat(check)
        return await _exec(check)

    async def _http(self, check: HttpCheck) -> tuple[bool, str]:
        import httpx

        if self._client is None:
            # No keep-alive: every probe opens a connection, as a new client would (a hung
            # server that still holds an idle connection must not look alive).
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
            )
        try:
            response = await self._client.get(check.url, timeout=check.timeout_s)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        ok = response.status_code == check.expect_status
        return ok, f"HTTP {response.status_code}"

    async def _heartbeat(self, check: HeartbeatCheck) -> tuple[bool, str]:
        if self._beats is None:
            return False, "no store to read heartbeats from"
        beats = await asyncio.to_thread(self._beats)
        seen = beats.get(check.name)
        if seen is None:
            return False, f"heartbeat {check.name!r} never seen"
        age = (self._now() - seen).total_seconds()
        return age <= check.max_age_s, f"last ping {age:.1f}s ago"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _exec(check: ExecCheck) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        *check.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    return code == 0, f"exit code {code}"
