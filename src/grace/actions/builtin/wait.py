"""``wait.until``: poll one condition until it holds or the time is up.

The waits between probes go through ``ctx.clock.sleep`` and time is measured with
``ctx.clock.monotonic``, so a fake clock runs a 30-minute wait instantly in tests. Each probe
has its own real deadline (at most 5 s), so a black-holed host cannot stall the loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import Field, field_validator, model_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import (
    BuiltinParams,
    FilePath,
    HttpUrl,
    Seconds,
    StatusCode,
    display_url,
)

if TYPE_CHECKING:
    import httpx

__all__ = ("WaitParams", "parse_host_port", "wait_until")

PROBE_TIMEOUT_S = 5.0
"""Longest a single probe (one HTTP request or TCP connect) may take."""

_KINDS = ("http", "tcp", "file", "file_absent")


def parse_host_port(value: str) -> tuple[str, int]:
    """Split ``'host:port'`` (or ``'[::1]:port'``), checking the port.

    Raises:
        ValueError: not ``host:port`` or a port outside 1..65535.
    """
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit():
        msg = f"tcp {value!r} must be 'host:port', like '127.0.0.1:5432' or '[::1]:6379'"
        raise ValueError(msg)
    port = int(port_text)
    if not 1 <= port <= 65535:
        msg = f"tcp port {port} is outside 1..65535"
        raise ValueError(msg)
    return host, port


class WaitParams(BuiltinParams):
    """Parameters of ``wait.until``: exactly one of ``http``, ``tcp``, ``file``, ``file_absent``."""

    http: HttpUrl | None = None
    """Wait until a GET of this URL answers 2xx (or ``expect_status``)."""
    expect_status: StatusCode | None = None
    """With ``http``: the status to wait for instead of any 2xx."""
    tcp: str | None = None
    """Wait until ``host:port`` accepts a TCP connection."""
    file: FilePath | None = None
    """Wait until this path exists."""
    file_absent: FilePath | None = None
    """Wait until this path is gone."""
    interval_s: Seconds = Field(default=0.5, ge=0.05, le=60)
    """Seconds between checks (0.05 to 60)."""
    timeout_s: Seconds = Field(default=30.0, ge=0.1, le=3600)
    """Give up (the step fails) after this many seconds (0.1 to 3600)."""

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_host_port(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitParams:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            found = f"got {', '.join(given)}" if given else "got none"
            msg = f"give exactly one of http, tcp, file, file_absent ({found})"
            raise ValueError(msg)
        if self.expect_status is not None and self.http is None:
            msg = "expect_status only applies to http"
            raise ValueError(msg)
        return self


def _target(p: WaitParams) -> str:
    if p.http is not None:
        wanted = str(p.expect_status) if p.expect_status is not None else "2xx"
        return f"{display_url(p.http)} answers {wanted}"
    if p.tcp is not None:
        return f"{p.tcp} accepts TCP connections"
    if p.file is not None:
        return f"{p.file} exists"
    return f"{p.file_absent} is gone"


def _describe(p: WaitParams) -> str:
    return (
        f"would wait up to {p.timeout_s:g}s (checking every {p.interval_s:g}s) until {_target(p)}"
    )


class _Probe:
    """One check of the condition; True when it holds."""

    def __init__(self, params: WaitParams, client: httpx.AsyncClient | None) -> None:
        self.params = params
        self.client = client
        self.last_error = ""
        self.errors: tuple[type[Exception], ...] = (OSError,)
        """What a failed probe raises: httpx's errors too when there is a client."""
        if client is not None:
            import httpx

            self.errors = (OSError, httpx.HTTPError)

    async def __call__(self) -> bool:
        p = self.params
        if p.file is not None:
            return Path(p.file).expanduser().exists()  # noqa: ASYNC240 - one stat, no blocking I/O
        if p.file_absent is not None:
            return not Path(p.file_absent).expanduser().exists()  # noqa: ASYNC240 - as above
        with anyio.move_on_after(PROBE_TIMEOUT_S):
            try:
                if p.tcp is not None:
                    host, port = parse_host_port(p.tcp)
                    stream = await anyio.connect_tcp(host, port)
                    await stream.aclose()
                    return True
                assert self.client is not None
                assert p.http is not None
                response = await self.client.get(p.http)
            except self.errors as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                return False
            self.last_error = f"status {response.status_code}"
            if p.expect_status is not None:
                return response.status_code == p.expect_status
            return 200 <= response.status_code < 300
        self.last_error = f"no answer within {PROBE_TIMEOUT_S:g}s"
        return False


@action(
    "wait.until",
    params=WaitParams,
    risk="low",
    idempotent=True,
    outputs=("waited_s", "probes"),
    describe=_describe,
)
async def wait_until(ctx: ActionContext, params: WaitParams) -> ActionResult:
    """Wait until a URL answers, a port accepts connections, or a file appears or disappears."""
    client = None
    if params.http is not None:
        import httpx  # here, not at the top: an idle daemon never pays for it

        client = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S)
    probe = _Probe(params, client)
    started = ctx.clock.monotonic()
    probes = 0
    try:
        while True:
            probes += 1
            held = await probe()
            waited = ctx.clock.monotonic() - started
            outputs: dict[str, Any] = {"waited_s": round(waited, 3), "probes": probes}
            if held:
                checks = f"{probes} check" + ("s" if probes != 1 else "")
                summary = f"{_target(params)} after {waited:.1f}s ({checks})"
                return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)
            if waited >= params.timeout_s:
                last = f"; last: {probe.last_error}" if probe.last_error else ""
                summary = f"gave up after {waited:.1f}s waiting until {_target(params)}{last}"
                return ActionResult(ok=False, summary=summary, outputs=outputs, changed=False)
            await ctx.clock.sleep(min(params.interval_s, params.timeout_s - waited))
    finally:
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()
