"""The ``tcp`` source: a port probe. A check passes when a TCP connection opens within the timeout.

```yaml
sources:
  - type: tcp
    host: 127.0.0.1
    port: 5432
    service: postgres
    interval_s: 5
    failures_before_event: 3
```
"""

from __future__ import annotations

import socket
from typing import Any

import anyio
from pydantic import Field

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

__all__ = ("TcpProbe", "TcpProbeConfig")


class TcpProbeConfig(ProbeConfig):
    """A TCP port probe."""

    host: str = Field(min_length=1)
    """Host name or address to connect to."""
    port: int = Field(ge=1, le=65535)
    """TCP port."""


@source("tcp", config=TcpProbeConfig)
class TcpProbe:
    """Probe a TCP port; one event after N consecutive failures, one when it accepts again."""

    def __init__(self, config: TcpProbeConfig, ctx: SourceContext) -> None:
        self.config = config
        self.target = f"{config.host}:{config.port}"
        self.name = config.name or f"tcp:{self.target}"
        self._ctx = ctx
        self._tracker = ProbeTracker(self.name, config.failures_before_event, config.reminder_every)

    async def run(self, emit: Emit) -> None:
        """Probe every ``interval_s`` until cancelled."""
        await run_probe(
            self._ctx,
            emit,
            interval_s=self.config.interval_s,
            tracker=self._tracker,
            check=self.check,
            to_event=self._event,
        )

    async def check(self) -> ProbeResult:
        """Open a connection and close it at once."""
        clock = self._ctx.clock
        started = clock.monotonic()

        def elapsed() -> float:
            return round((clock.monotonic() - started) * 1000, 1)

        timeout = self.config.timeout_s
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(self.config.host, self.config.port)
        except TimeoutError:
            return ProbeResult(False, f"timeout after {timeout:g}s", "timeout", elapsed())
        except OSError as exc:
            return ProbeResult(False, *_describe(exc), elapsed_ms=elapsed())
        await stream.aclose()
        return ProbeResult(True, "connected", "", elapsed())

    def _event(self, transition: Transition, result: ProbeResult) -> Event:
        attributes: dict[str, Any] = {
            "probe": "tcp",
            "host": self.config.host,
            "port": self.config.port,
            "elapsed_ms": result.elapsed_ms,
            "reason": result.reason,
            "consecutive_failures": transition.failures,
            "down_since": transition.since.isoformat(),
        }
        if transition.kind == "recovered":
            down_s = (self._ctx.clock.now() - transition.since).total_seconds()
            attributes.update(recovered=True, down_for_s=round(down_s, 3))
            message = f"tcp connect to {self.target} recovered after {transition.failures} failures"
            severity: Severity = "info"
        else:
            attributes["recovered"] = False
            message = (
                f"tcp connect to {self.target} failed {transition.failures} times: {result.detail}"
            )
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


def _describe(exc: OSError) -> tuple[str, str]:
    """``(detail, reason)``: anyio wraps the per-address errors, so look at the causes too."""
    if caused_by_refusal(exc):
        return "connection refused", "refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})", "dns"
    return f"{type(exc).__name__}: {exc}", "error"
