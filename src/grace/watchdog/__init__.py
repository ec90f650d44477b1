"""The healer watchdog: Grace's own healers keep each other alive (docs/watchdog.md).

- **Tier 1**, in-process: :class:`ComponentWatchdog` restarts a component of ``grace serve``
  (runner, sources, API, supervisor, peer keeper) whose task died or whose heartbeat stalled.
- **Tier 2**, mutual: ``grace serve`` and ``grace watchdog`` each run a :class:`PeerKeeper`
  for the other and restart it when its process dies or hangs (rate-limited, never twice).
- **Tier 3**, emergency: :func:`run_emergency`, when both healer components are down.
"""

from __future__ import annotations

from grace.watchdog._beats import HEALER_ROWS, SERVE_ROW, WATCHDOG_ROW, Heartbeats, row_name
from grace.watchdog._components import (
    Component,
    ComponentFailed,
    ComponentStatus,
    ComponentWatchdog,
)
from grace.watchdog._config import EmergencyConfig, WatchdogConfig
from grace.watchdog._delegation import Grant, active_grant, grant_delegation, revoke_delegation
from grace.watchdog._emergency import EmergencyOutcome, run_emergency
from grace.watchdog._identity import (
    AlreadyRunning,
    Liveness,
    ProcessRecord,
    Role,
    RoleLock,
    launch_argv,
    liveness,
    read_record,
    record_path,
    stop_recorded,
)
from grace.watchdog._limits import Budget, StartBudget
from grace.watchdog._peers import (
    PeerKeeper,
    PeerState,
    Verdict,
    keep_peer,
    observe,
    peer_command,
    rows_of,
    spawn_peer,
)

__all__ = (
    "HEALER_ROWS",
    "SERVE_ROW",
    "WATCHDOG_ROW",
    "AlreadyRunning",
    "Budget",
    "Component",
    "ComponentFailed",
    "ComponentStatus",
    "ComponentWatchdog",
    "EmergencyConfig",
    "EmergencyOutcome",
    "Grant",
    "Heartbeats",
    "Liveness",
    "PeerKeeper",
    "PeerState",
    "ProcessRecord",
    "Role",
    "RoleLock",
    "StartBudget",
    "Verdict",
    "WatchdogConfig",
    "active_grant",
    "grant_delegation",
    "keep_peer",
    "launch_argv",
    "liveness",
    "observe",
    "peer_command",
    "read_record",
    "record_path",
    "revoke_delegation",
    "row_name",
    "rows_of",
    "run_emergency",
    "spawn_peer",
    "stop_recorded",
)
