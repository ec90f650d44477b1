"""The process supervisor: services kept alive, hangs caught by health checks (docs/supervisor.md).

``grace serve`` runs a :class:`Supervisor` over the ``services:`` setting; ``grace services``
talks to it through the store, or acts directly when no daemon runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        supervisor_beat_age,
    )
    from grace.supervisor._policy import ExitReason, StartLimiter, backoff_delay, wants_restart
    from grace.supervisor._process import describe_exit, log_path
    from grace.supervisor._service import Command, ServiceRunner
    from grace.supervisor._state import ServiceState, ServiceStatus, read_state, state_path
    from grace.supervisor._supervisor import HEARTBEAT_NAME, Supervisor

# Lazy: ``grace.config`` imports ``grace.supervisor._config`` (pydantic only), and must not pay
# for the supervisor's runtime (the store, SQLAlchemy) through this package's __init__.
_WHERE: dict[str, str] = {
    "BackoffConfig": "grace.supervisor._config",
    "Command": "grace.supervisor._service",
    "ControlOutcome": "grace.supervisor._control",
    "DAEMON_FRESH_S": "grace.supervisor._control",
    "ExecCheck": "grace.supervisor._config",
    "ExitReason": "grace.supervisor._policy",
    "HEARTBEAT_NAME": "grace.supervisor._supervisor",
    "HealthCheck": "grace.supervisor._config",
    "HeartbeatCheck": "grace.supervisor._config",
    "HttpCheck": "grace.supervisor._config",
    "RestartPolicy": "grace.supervisor._config",
    "ServiceConfig": "grace.supervisor._config",
    "ServiceRunner": "grace.supervisor._service",
    "ServiceState": "grace.supervisor._state",
    "ServiceStatus": "grace.supervisor._state",
    "StartLimitConfig": "grace.supervisor._config",
    "StartLimiter": "grace.supervisor._policy",
    "Supervisor": "grace.supervisor._supervisor",
    "TcpCheck": "grace.supervisor._config",
    "backoff_delay": "grace.supervisor._policy",
    "daemon_listening": "grace.supervisor._control",
    "describe_exit": "grace.supervisor._process",
    "log_path": "grace.supervisor._process",
    "parse_services": "grace.supervisor._config",
    "read_state": "grace.supervisor._state",
    "request_and_wait": "grace.supervisor._control",
    "supervisor_beat_age": "grace.supervisor._control",
    "state_path": "grace.supervisor._state",
    "wants_restart": "grace.supervisor._policy",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'grace.supervisor' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "supervisor_beat_age",
    "wants_restart",
)
