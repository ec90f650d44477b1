"""The ``http`` source: a health probe. After N consecutive failed checks it emits one ``health``
event; when the endpoint is healthy again it emits a recovery event.

```yaml
sources:
  - type: http
    url: http://127.0.0.1:8000/health
    service: api
    interval_s: 10
    timeout_s: 2
    expect_status: 200
    body_regex: '"status":\\s*"ok"'
    failures_before_event: 3
```
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import Field, field_validator

from grace.events import Event, Severity
from grace.sources._base import Emit, SourceContext, source
from grace.sources.builtin._probe import (
    ProbeConfig,
    ProbeResult,
    ProbeTracker,
    Transition,
    caused_by_refusal,
    run_probe,
)

if TYPE_CHECKING:
    import httpx

__all__ = ("HttpProbe", "HttpProbeConfig")


class HttpProbeConfig(ProbeConfig):
    """An HTTP health probe."""

    url: str
    """The endpoint to GET (``http://`` or ``https://``)."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """The status a healthy endpoint answers with."""
    body_regex: str | None = None
    """When set, a healthy answer's body must also contain a match of this regex."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (e.g. a token the health endpoint wants)."""
    verify_tls: bool = True
    """Check the server's TLS certificate (https only)."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        import httpx  # here, not at the top: only a configured probe pays for it

        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            msg = f"{value!r} is not a URL ({exc})"
            raise ValueError(msg) from exc
        if url.scheme not in ("http", "https") or not url.host:
            msg = f"{value!r} must be an http:// or https:// URL with a host"
            raise ValueError(msg)
        return value

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                msg = f"body_regex {value!r} does not compile: {exc}"
                raise ValueError(msg) from exc
        return value


@source("http", config=HttpProbeConfig)
class HttpProbe:
    """Probe an HTTP endpoint; one event after N consecutive failures, one when it recovers."""

    def __init__(self, config: HttpProbeConfig, ctx: SourceContext) -> None:
        self.config = config
        self.name = config.name or f"http:{config.url}"
        self._ctx = ctx
        self._body = re.compile(config.body_regex) if config.body_regex else None
        self._tracker = ProbeTracker(self.name, config.failures_before_event, config.reminder_every)

    async def run(self, emit: Emit) -> None:
        """Probe every ``interval_s`` until cancelled."""
        import httpx

        async with httpx.AsyncClient(
            timeout=self.config.timeout_s,
            headers=self.config.headers,
            verify=self.config.verify_tls,
            follow_redirects=False,
        ) as client:

            async def check() -> ProbeResult:
                return await self.check(client)

            await run_probe(
                self._ctx,
                emit,
                interval_s=self.config.interval_s,
                tracker=self._tracker,
                check=check,
                to_event=self._event,
            )

    async def check(self, client: httpx.AsyncClient) -> ProbeResult:
        """One GET, judged against ``expect_status`` and ``body_regex``."""
        import httpx

        clock = self._ctx.clock
        started = clock.monotonic()

        def elapsed() -> float:
            return round((clock.monotonic() - started) * 1000, 1)

        timeout = self.config.timeout_s
        response: httpx.Response | None = None
        with anyio.move_on_after(timeout):
            try:
                response = await client.get(self.config.url)
            except httpx.TimeoutException:
                pass
            except httpx.HTTPError as exc:
                return ProbeResult(False, *_describe(exc), elapsed_ms=elapsed())
        if response is None:
            return ProbeResult(False, f"timeout after {timeout:g}s", "timeout", elapsed())
        status = response.status_code
        if status != self.config.expect_status:
            return ProbeResult(False, str(status), "status", elapsed(), status)
        if self._body is not None and not self._body.search(response.text):
            detail = f"{status}, body does not match {self._body.pattern!r}"
            return ProbeResult(False, detail, "body", elapsed(), status)
        return ProbeResult(True, str(status), "", elapsed(), status)

    def _event(self, transition: Transition, result: ProbeResult) -> Event:
        target = f"GET {self.config.url}"
        attributes: dict[str, Any] = {
            "probe": "http",
            "url": self.config.url,
            "status": result.status,
            "elapsed_ms": result.elapsed_ms,
            "reason": result.reason,
            "consecutive_failures": transition.failures,
            "down_since": transition.since.isoformat(),
        }
        if transition.kind == "recovered":
            down_s = (self._ctx.clock.now() - transition.since).total_seconds()
            attributes.update(recovered=True, down_for_s=round(down_s, 3))
            message = (
                f"health check recovered: {target} → {result.detail} "
                f"after {transition.failures} failures"
            )
            severity: Severity = "info"
        else:
            attributes["recovered"] = False
            message = f"health check failed {transition.failures} times: {target} → {result.detail}"
            severity = "error"
        return Event(
            id=self._ctx.ids.new("evt"),
            time=self._ctx.clock.now(),
            source=self.name,
            kind="health",
            service=self.config.service,
            severity=severity,
            message=message,
            attributes=attributes,
        )


def _describe(exc: httpx.HTTPError) -> tuple[str, str]:
    """``(detail, reason)`` for a failed request, in the words an operator expects."""
    import httpx

    text = str(exc) or type(exc).__name__
    if caused_by_refusal(exc):
        return "connection refused", "refused"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({text})", "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error ({text})", "protocol"
    return f"{type(exc).__name__}: {text}", "error"
