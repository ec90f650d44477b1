"""One router per resource; :func:`grace.api.create_app` includes them all."""

from __future__ import annotations

from grace.api.routes import events as events
from grace.api.routes import health as health
from grace.api.routes import heartbeats as heartbeats
from grace.api.routes import webhooks as webhooks

__all__ = ("events", "health", "heartbeats", "webhooks")
