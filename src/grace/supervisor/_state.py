"""One JSON state file per service under ``<data_dir>/services/``.

It records the process's identity (pid, create time, command-line digest), so that a Grace
restarted after a crash adopts the services it started instead of starting them twice, and the
service's status (``running``, ``backoff``, ``fatal``, ``stopped``…), so that ``grace services
list`` can answer without a running daemon and a ``fatal`` or operator-stopped service stays
that way across restarts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ("ServiceState", "ServiceStatus", "read_state", "state_path", "write_state")

ServiceStatus = Literal["starting", "running", "backoff", "stopping", "stopped", "exited", "fatal"]
"""``exited``: ended and not restarted (policy ``never``/``on-failure``). ``fatal``: the start
limit was hit. ``stopped``: by an operator (stays stopped until started)."""


@dataclass
class ServiceState:
    """What the state file holds."""

    name: str
    status: ServiceStatus = "stopped"
    pid: int | None = None
    create_time: float | None = None
    cmdline_hash: str | None = None
    argv_hash: str | None = None
    """Digest of the configured argv when it was started (a config change shows as a mismatch)."""
    started_at: str | None = None
    last_exit: str | None = None
    """How the last run ended (``exit code 1``, ``killed by SIGKILL``, ``unhealthy: …``)."""
    restarts: int = 0
    """Automatic restarts since Grace (or the last manual start) started it."""
    healthy: bool | None = None
    reason: str = ""
    handled_request: str | None = None
    """The id of the last store request (start, stop, restart) carried out."""
    updated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> dict[str, Any]:
        """JSON form (``grace services list --json``)."""
        return asdict(self)


def state_path(data_dir: Path, name: str) -> Path:
    """``<data_dir>/services/<name>.json``."""
    return data_dir / "services" / f"{name}.json"


def read_state(data_dir: Path, name: str) -> ServiceState | None:
    """The recorded state, or None when there is none (or it is unreadable)."""
    try:
        raw = json.loads(state_path(data_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    known = set(ServiceState.__dataclass_fields__)
    try:
        return ServiceState(**{k: v for k, v in raw.items() if k in known})
    except TypeError:
        return None


def write_state(data_dir: Path, state: ServiceState) -> None:
    """Replace the state file atomically (a crash mid-write leaves the previous one)."""
    path = state_path(data_dir, state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.updated_at = datetime.now(UTC).isoformat()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1), encoding="utf-8")
    os.replace(tmp, path)
