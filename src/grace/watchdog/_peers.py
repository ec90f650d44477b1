"""Tier 2: ``grace serve`` and ``grace watchdog`` keep each other running.

Each process runs a :class:`PeerKeeper` for the other role. A check reads the peer's record
(pid and create time: :mod:`grace.watchdog._identity`) and its heartbeat rows, then:

- **dead** (gone, a zombie, its pid reused): start it again, within the shared restart budget
  (:mod:`grace.watchdog._limits`). A copy we started and that is still coming up is waited
  for, never doubled; the started process itself refuses to run if the role's lock is held.
- **hung** (alive, but its rows are older than ``peer_timeout_s`` past its start grace):
  reported to the caller. ``grace serve`` then stops and restarts a hung watchdog;
  ``grace watchdog`` runs the emergency protocol for a hung ``grace serve`` (both healer
  components are down: :mod:`grace.watchdog._emergency`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from grace.logs import get_logger
from grace.watchdog._audit import ACTOR, audit
from grace.watchdog._beats import HEALER_ROWS, SERVE_ROW, WATCHDOG_ROW
from grace.watchdog._delegation import active_grant
from grace.watchdog._identity import (
    Liveness,
    ProcessRecord,
    Role,
    liveness,
    read_record,
    stop_recorded,
)
from grace.watchdog._limits import StartBudget

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from grace.store import Store
    from grace.watchdog._config import WatchdogConfig

__all__ = (
    "PeerKeeper",
    "PeerState",
    "Verdict",
    "keep_peer",
    "observe",
    "peer_command",
    "rows_of",
    "spawn_peer",
)

log = get_logger("watchdog")

Verdict = Literal[
    "ok", "starting", "started", "stopped", "backoff", "limit", "hung", "stood_down", "failed"
]
"""What one check found or did."""


def rows_of(role: str) -> tuple[str, ...]:
    """The heartbeat rows that say ``role`` is alive and healing."""
    return (SERVE_ROW, *HEALER_ROWS) if role == "serve" else (WATCHDOG_ROW,)


@dataclass(frozen=True)
class PeerState:
    """One look at a peer process."""

    role: str
    record: ProcessRecord | None
    liveness: Liveness
    ages: dict[str, float | None]
    """Heartbeat row → seconds since its last ping by *this* process (None: none yet, or the
    store could not be read)."""
    up_s: float | None
    """Seconds since the process started (None: not running)."""
    store_ok: bool = True

    @property
    def pid(self) -> int | None:
        return self.record.pid if self.record is not None and self.liveness != "dead" else None

    def stale(self, row: str, timeout_s: float) -> bool:
        """True when ``row`` has not been pinged by this process within ``timeout_s``."""
        age = self.ages.get(row)
        return age is None or age > timeout_s

    def to_json(self) -> dict[str, Any]:
        """JSON form (action outputs, audit payloads)."""
        return {
            "role": self.role,
            "pid": self.pid,
            "liveness": self.liveness,
            "up_s": None if self.up_s is None else round(self.up_s, 3),
            "ages": {k: None if v is None else round(v, 3) for k, v in self.ages.items()},
            "store_ok": self.store_ok,
        }


def observe(data_dir: Path, store: Store | None, role: str) -> PeerState:
    """Read ``role``'s record, liveness and heartbeat rows."""
    record = read_record(data_dir, role)
    alive = liveness(record)
    up_s = time.time() - record.create_time if record is not None and alive != "dead" else None
    ages: dict[str, float | None] = dict.fromkeys(rows_of(role))
    store_ok = store is not None
    if store is not None and record is not None:
        try:
            beats = store.last_beats()
            now = store.clock.now()
        except Exception:  # noqa: BLE001 - the database may be away; liveness still counts
            store_ok = False
        else:
            for row in ages:
                seen = beats.get(row)
                # Only pings by the recorded process count (a dead one's last rows do not).
                if seen is not None and seen.timestamp() >= record.create_time - 1.0:
                    ages[row] = max(0.0, (now - seen).total_seconds())
    return PeerState(role, record, alive, ages, up_s, store_ok)


def peer_command(
    role: str,
    data_dir: Path,
    *,
    configured: list[str] | None,
    config_file: str | None,
) -> tuple[list[str], str | None]:
    """argv and cwd that start ``role``: configured, else as last time, else built."""
    if configured:
        return list(configured), None
    last = read_record(data_dir, role)
    if last is not None and last.argv:
        return list(last.argv), last.cwd or None
    if config_file is None:
        for other in ("serve", "watchdog"):
            rec = read_record(data_dir, other)
            if rec is not None and rec.config_file:
                config_file = rec.config_file
                break
    argv = [sys.executable, "-m", "grace"]
    if config_file:
        argv += ["--config", str(Path(config_file).resolve())]
    argv += ["--data-dir", str(data_dir.resolve()), role]
    return argv, None


def spawn_peer(
    role: str, argv: list[str], *, cwd: str | None, data_dir: Path, database_url: str | None
) -> subprocess.Popen[bytes]:
    """Start ``role`` in its own session, output appended to ``<data_dir>/watchdog/<role>.out``.

    Raises:
        OSError: the program could not be started.
    """
    out = data_dir / "watchdog" / f"{role}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GRACE_DATA_DIR": str(data_dir.resolve())}
    if database_url:
        env["GRACE_DATABASE_URL"] = database_url
    with out.open("ab") as sink:
        return subprocess.Popen(  # argv from the operator's config or the peer's own record
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class PeerKeeper:
    """Keeps the process of ``role`` running, as seen from the other one."""

    def __init__(
        self,
        role: Role,
        *,
        data_dir: Path,
        store: Store | None,
        config: WatchdogConfig,
        database_url: str | None = None,
        config_file: str | None = None,
        actor: str = ACTOR,
    ) -> None:
        self.role = role
        self.data_dir = data_dir
        self.store = store
        self.config = config
        self.database_url = database_url
        self.config_file = config_file
        self.actor = actor
        self.budget = StartBudget(
            data_dir, config.restart_limit, config.backoff, stable_after_s=config.stable_after_s
        )
        self.child: subprocess.Popen[bytes] | None = None
        self.child_started = 0.0
        """Monotonic time of our last start (0: none yet)."""
        self.started_wall = 0.0
        self._limit_reported = False

    @property
    def subject(self) -> str:
        return f"healer:{self.role}"

    def observe(self) -> PeerState:
        """The peer now."""
        return observe(self.data_dir, self.store, self.role)

    def hung(self, state: PeerState) -> bool:
        """Alive past its start grace, yet none of its healer rows is fresh."""
        if state.liveness == "dead" or not state.store_ok:
            return False
        if state.up_s is not None and state.up_s < self.config.start_grace_s:
            return state.liveness == "stopped" and state.up_s > self.config.peer_timeout_s
        rows = HEALER_ROWS if self.role == "serve" else (WATCHDOG_ROW,)
        return all(state.stale(row, self.config.peer_timeout_s) for row in rows)

    def _reap(self) -> None:
        if self.child is not None and self.child.poll() is not None:
            log.info(
                f"the {self.role} we started (pid {self.child.pid}) ended: "
                f"exit {self.child.returncode}",
                event_type="watchdog.peer_exited",
            )
            self.child = None

    def starting(self) -> bool:
        """A copy we started is still coming up: no live process with a record newer than our
        start yet, and ``start_grace_s`` (at least 5 s) has not passed. The started command
        may have exited already (``systemctl restart grace`` does at once)."""
        self._reap()
        if not self.child_started:
            return False
        if time.monotonic() - self.child_started >= max(self.config.start_grace_s, 5.0):
            return False
        record = read_record(self.data_dir, self.role)
        if (
            record is not None
            and record.create_time >= self.started_wall - 1.0
            and liveness(record) != "dead"
        ):
            self.child_started = 0.0  # it came up: the start is over, whatever happens next
            return False
        return True

    def check(self) -> tuple[Verdict, PeerState]:
        """Look once; start a dead peer if the budget allows. A hung one is only reported."""
        state = self.observe()
        if self.role == "watchdog" and active_grant(self.data_dir) is not None:
            return "stood_down", state  # the watchdog holds the healing: leave it alone
        if state.liveness != "dead":
            self.starting()  # notes that a copy we started came up
            if self.hung(state):
                return "hung", state
            return "ok", state
        if self.starting():
            return "starting", state
        if state.record is not None and state.record.stopped_at:
            return "stopped", state  # an operator stopped it: not ours to start again
        budget = self.budget.read(self.role)
        if not budget.may_start:
            if not self._limit_reported:
                self._limit_reported = True
                audit(
                    self.store,
                    "watchdog.start_limit_hit",
                    self.subject,
                    {
                        "starts": budget.starts,
                        "burst": self.config.restart_limit.burst,
                        "window_s": self.config.restart_limit.window_s,
                    },
                    actor=self.actor,
                )
            return "limit", state
        if time.time() < budget.not_before:
            return "backoff", state
        gone = state.record.pid if state.record is not None else None
        why = f"process {gone} is gone" if gone else f"no grace {self.role} is running"
        return ("started" if self.start(reason=why) else "failed"), state

    def start(self, *, reason: str, counted: bool = True) -> int | None:
        """Start the peer now (audited ``watchdog.peer_started``); its pid, or None on failure.

        Never starts a second copy: a live recorded process or a copy still starting wins.
        """
        if liveness(read_record(self.data_dir, self.role)) != "dead" or self.starting():
            return None
        argv, cwd = peer_command(
            self.role,
            self.data_dir,
            configured=self._configured(),
            config_file=self.config_file,
        )
        try:
            child = spawn_peer(
                self.role, argv, cwd=cwd, data_dir=self.data_dir, database_url=self.database_url
            )
        except OSError as exc:
            audit(
                self.store,
                "watchdog.peer_start_failed",
                self.subject,
                {"argv": argv, "error": str(exc), "reason": reason},
                actor=self.actor,
            )
            return None
        self.child, self.child_started, self.started_wall = child, time.monotonic(), time.time()
        budget = self.budget.record_start(self.role) if counted else None
        self._limit_reported = False
        audit(
            self.store,
            "watchdog.peer_started",
            self.subject,
            {
                "pid": child.pid,
                "argv": argv,
                "reason": reason,
                "starts_in_window": budget.starts if budget else None,
            },
            actor=self.actor,
        )
        return child.pid

    def stop_hung(self, state: PeerState, *, timeout_s: float) -> str:
        """Stop the hung peer (SIGCONT, SIGTERM, SIGKILL; audited ``watchdog.peer_stopped``)."""
        if state.record is None:
            return "nothing to stop"
        how = stop_recorded(state.record, timeout_s)
        audit(
            self.store,
            "watchdog.peer_stopped",
            self.subject,
            {"pid": state.record.pid, "how": how, "seen": state.to_json()},
            actor=self.actor,
        )
        return how

    def _configured(self) -> list[str] | None:
        return self.config.serve_command if self.role == "serve" else self.config.watchdog_command


async def keep_peer(
    keeper: PeerKeeper, *, beat: Callable[[], None], task_status: TaskStatus[None]
) -> None:
    """``grace serve``'s side of tier 2: keep ``grace watchdog`` running (a component).

    A dead watchdog is started again; a hung one is stopped, and started on the next check.
    While a delegation grant holds, the watchdog is left alone.
    """
    import anyio

    task_status.started()
    while True:
        beat()
        verdict, state = await anyio.to_thread.run_sync(keeper.check)
        if verdict == "hung":
            timeout = keeper.config.emergency.stop_timeout_s
            await anyio.to_thread.run_sync(partial(keeper.stop_hung, state, timeout_s=timeout))
            await anyio.to_thread.run_sync(
                partial(keeper.start, reason=f"process {state.pid} was hung")
            )
        await anyio.sleep(keeper.config.peer_check_s)
