"""Built-in sources (each one module). Their classes are listed in ``__all__``."""

from __future__ import annotations

from grace.sources.builtin.heartbeat import Heartbeat as Heartbeat
from grace.sources.builtin.http_probe import HttpProbe as HttpProbe
from grace.sources.builtin.log import LogSource as LogSource
from grace.sources.builtin.schedule import Schedule as Schedule
from grace.sources.builtin.tcp_probe import TcpProbe as TcpProbe
from grace.sources.builtin.webhook import WebhookSource as WebhookSource

__all__: tuple[str, ...] = (
    "Heartbeat",
    "HttpProbe",
    "LogSource",
    "Schedule",
    "TcpProbe",
    "WebhookSource",
)
