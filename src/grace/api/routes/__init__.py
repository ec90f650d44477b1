"""One router per resource; :func:`grace.api.create_app` includes them all."""

from __future__ import annotations

from grace.api.routes import agent_runs as agent_runs
from grace.api.routes import audit as audit
from grace.api.routes import events as events
from grace.api.routes import governance as governance
from grace.api.routes import health as health
from grace.api.routes import heartbeats as heartbeats
from grace.api.routes import metrics as metrics
from grace.api.routes import playbooks as playbooks
from grace.api.routes import runs as runs
from grace.api.routes import silences as silences
from grace.api.routes import startup as startup
from grace.api.routes import tickets as tickets
from grace.api.routes import webhooks as webhooks

__all__ = (
    "agent_runs",
    "audit",
    "events",
    "governance",
    "health",
    "heartbeats",
    "metrics",
    "playbooks",
    "runs",
    "silences",
    "startup",
    "tickets",
    "webhooks",
)
