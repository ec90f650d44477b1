"""The process supervisor: services kept alive, hangs caught by health checks (docs/supervisor.md).

``grace serve`` runs a :class:`Supervisor` over the ``services:`` setting; ``grace services``
talks to it through the store, or acts directly when no daemon runs.
"""

from __future__ import annotations

from grace.supervisor._config import (
    BackoffConfig,
    ExecCheck,
    HealthCheck,
    HeartbeatCheck,
    HttpCheck,
    RestartPolicy,
    ServiceConfig,
    StartLimitConfig,
    TcpCheck,
    parse_services,
)
from grace.supervisor._control import (
    DAEMON_FRESH_S,
    ControlOutcome,
    daemon_listening,
    request_and_wait,
)
from grace.supervisor._policy import ExitReason, StartLimiter, backoff_delay, wants_restart
from grace.supervisor._process import describe_exit, log_path
from grace.supervisor._service import Command, ServiceRunner
from grace.supervisor._state import ServiceState, ServiceStatus, read_state, state_path
from grace.supervisor._supervisor import HEARTBEAT_NAME, Supervisor

__all__ = (
    "DAEMON_FRESH_S",
    "HEARTBEAT_NAME",
    "BackoffConfig",
    "Command",
    "ControlOutcome",
    "ExecCheck",
    "ExitReason",
    "HealthCheck",
    "HeartbeatCheck",
    "HttpCheck",
    "RestartPolicy",
    "ServiceConfig",
    "ServiceRunner",
    "ServiceState",
    "ServiceStatus",
    "StartLimitConfig",
    "StartLimiter",
    "Supervisor",
    "TcpCheck",
    "backoff_delay",
    "daemon_listening",
    "describe_exit",
    "log_path",
    "parse_services",
    "read_state",
    "request_and_wait",
    "state_path",
    "wants_restart",
)
