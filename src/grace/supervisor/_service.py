"""One supervised service: start, watch (exit and health), restart per policy, give up.

The life of a run: spawn → watch three things at once (the process's exit, its health
checks, an operator's command) → whichever comes first decides. A crash restarts at once if
the run was stable, else after the backoff; every automatic start is counted against the
start limit, and hitting it makes the service ``fatal`` (one ticket, no more restarts).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from grace.logs import get_logger
from grace.supervisor._config import HealthCheck, ServiceConfig
from grace.supervisor._health import Prober, describe_check
from grace.supervisor._policy import ExitReason, StartLimiter, backoff_delay, wants_restart
from grace.supervisor._process import (
    ProcessHandle,
    adopt,
    cmdline_hash,
    describe_exit,
    spawn,
    stop_process,
)
from grace.supervisor._record import ACTOR, Recorder
from grace.supervisor._state import ServiceState, ServiceStatus, read_state, write_state

__all__ = ("Command", "ServiceRunner")

log = get_logger("supervisor")

Action = Literal["start", "stop", "restart"]
_STICKY = ("fatal", "stopped", "exited")
"""States a restarted Grace leaves alone: only an operator's start changes them."""


@dataclass(frozen=True)
class Command:
    """An operator's request (CLI, API, or ``stop --all``)."""

    action: Action
    by: str = "operator"
    reason: str = ""
    id: str = ""
    """The store request's id (``ServiceControls``), recorded once the command is carried out."""


@dataclass
class _Ended:
    reason: ExitReason
    code: int | None
    detail: str


class ServiceRunner:
    """Keeps one service running; :meth:`run` until cancelled (the process stays up)."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        data_dir: Path,
        log_dir: Path,
        recorder: Recorder,
        prober: Prober,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.recorder = recorder
        self.prober = prober
        self.monotonic = monotonic
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.limiter = StartLimiter(config.start_limit)
        recorded = read_state(data_dir, config.name)
        self._recorded = recorded is not None
        self.state = recorded or ServiceState(config.name)
        self.handle: ProcessHandle | None = None
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._stable = False
        self._failing: set[int] = set()
        self._seen_ok: set[int] = set()
        self.changed = asyncio.Event()
        """Set (and cleared by whoever waits) on every status change; for tests and the CLI."""

    @property
    def name(self) -> str:
        return self.config.name

    def submit(self, command: Command) -> None:
        """Queue an operator's command; :meth:`run` applies it."""
        self._commands.put_nowait(command)

    # -- main loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Adopt or start the service, then keep it as its policy says, until cancelled."""
        try:
            if not self._adopt():
                if self.state.status in _STICKY and self._recorded:
                    log.info(
                        f"service {self.name} left {self.state.status} ({self.state.reason})",
                        event_type="service.left",
                    )
                    self._save()
                elif self.config.autostart:
                    await self._start_loop(first=True)
                else:
                    self._set("stopped", "autostart is off")
            while True:
                if self.handle is None:
                    await self._command(await self._commands.get())
                    continue
                outcome = await self._watch(self.handle)
                if isinstance(outcome, Command):
                    await self._command(outcome)
                else:
                    await self._ended(outcome)
        finally:
            if self.handle is not None:
                self.handle.close()

    async def apply_once(self, command: Command) -> None:
        """Apply one command without supervising afterwards (the CLI when no daemon runs)."""
        self._adopt(quiet=True)
        try:
            await self._command(command)
        finally:
            if self.handle is not None:
                self.handle.close()

    # -- adoption ---------------------------------------------------------------------------

    def _adopt(self, *, quiet: bool = False) -> bool:
        st = self.state
        if st.pid is None or st.create_time is None or st.cmdline_hash is None:
            return False
        if st.status not in ("running", "starting", "stopping", "backoff"):
            return False
        handle = adopt(st.pid, st.create_time, st.cmdline_hash)
        if handle is None:
            return False
        self.handle = handle
        self._stable = False
        if not quiet:
            changed = st.argv_hash not in (None, cmdline_hash(self.config.argv))
            self.recorder.audit(
                "service.adopted",
                self.name,
                {"pid": handle.pid, "argv_changed": changed},
            )
            note = "; its argv differs from the config (restart it to apply)" if changed else ""
            log.info(
                f"service {self.name} adopted (pid {handle.pid}){note}",
                event_type="service.adopted",
            )
        self._set("running", "adopted")
        return True

    # -- starting ---------------------------------------------------------------------------

    async def _start_loop(
        self, *, first: bool = False, by: str = ACTOR, manual: bool = False
    ) -> None:
        """Start now; a program that cannot even be spawned goes through backoff and limit."""
        if manual:
            self.limiter.reset()
            self.state.restarts = 0
        if not self._start(first=first, by=by, manual=manual):
            self._stable = False
            await self._ended(_Ended("exited", None, self.state.last_exit or "could not start"))

    def _start(self, *, first: bool, by: str, manual: bool) -> bool:
        if not manual:
            self.limiter.record_start(self.monotonic())
        try:
            handle = spawn(self.config, log_dir=self.log_dir)
        except OSError as exc:
            self.state.last_exit = f"could not start: {exc}"
            self.recorder.audit(
                "service.exited", self.name, {"pid": None, "reason": self.state.last_exit}
            )
            return False
        self.handle = handle
        self._stable = False
        self._failing.clear()
        self._seen_ok.clear()
        st = self.state
        st.pid, st.create_time, st.cmdline_hash = (
            handle.pid,
            handle.create_time,
            handle.cmdline_hash,
        )
        st.argv_hash = cmdline_hash(self.config.argv)
        st.started_at = datetime.now(UTC).isoformat()
        st.healthy = None
        restarted = not first and not manual
        if restarted:
            st.restarts += 1
        self._set("running", "restarted" if restarted else f"started by {by}")
        action = "service.restarted" if restarted else "service.started"
        payload = {"pid": handle.pid, "argv": self.config.argv, "restarts": st.restarts}
        self.recorder.audit(action, self.name, payload, actor=by)
        self.recorder.event(
            self.name,
            "info",
            f"service {self.name} {'restarted' if restarted else 'started'} (pid {handle.pid})",
            {"action": action, "pid": handle.pid, "restarts": st.restarts},
            key=f"{self.name}:{handle.pid}:{handle.create_time}:started",
        )
        return True

    # -- watching ---------------------------------------------------------------------------

    async def _watch(self, handle: ProcessHandle) -> _Ended | Command:
        exited = handle.exited()
        loop = asyncio.get_running_loop()
        unhealthy: asyncio.Future[str] = loop.create_future()
        helpers = [
            asyncio.create_task(self._probe_loop(i, check, handle.started, unhealthy))
            for i, check in enumerate(self.config.health)
        ]
        helpers.append(asyncio.create_task(self._stable_timer(handle.started)))
        get = asyncio.create_task(self._commands.get())
        try:
            waits: set[asyncio.Future[Any]] = {exited, unhealthy, get}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in helpers:
                task.cancel()
            if not get.done():
                get.cancel()
            # gather, not a suppressing await: this task's own cancellation must propagate.
            await asyncio.gather(*helpers, return_exceptions=True)
        command = get.result() if get.done() and not get.cancelled() else None
        if exited.done():
            if command is not None:
                self._commands.put_nowait(command)  # handled once the exit is
            return _Ended("exited", exited.result(), describe_exit(exited.result()))
        if command is not None:
            if unhealthy.done():
                unhealthy.cancel()
            return command
        return _Ended("unhealthy", None, unhealthy.result())

    async def _stable_timer(self, started: float) -> None:
        await asyncio.sleep(max(0.0, started + self.config.reset_after_s - self.monotonic()))
        while self._failing:  # noqa: ASYNC110 - a flag set by the probes; 50 ms is plenty
            await asyncio.sleep(0.05)
        self._stable = True
        self.limiter.mark_stable()

    async def _probe_loop(
        self, index: int, check: HealthCheck, started: float, unhealthy: asyncio.Future[str]
    ) -> None:
        """Probe on a fixed cadence from the first moment; hung after ``failures`` in a row."""
        loop = asyncio.get_running_loop()
        consecutive = 0
        pending: set[asyncio.Task[tuple[bool, str]]] = set()

        def done(task: asyncio.Task[tuple[bool, str]], *, launched: float) -> None:
            nonlocal consecutive
            pending.discard(task)
            if task.cancelled() or task.exception() is not None:
                return
            ok, detail = task.result()
            if ok:
                consecutive = 0
                self._failing.discard(index)
                self._seen_ok.add(index)
                if self.state.healthy is not True:
                    self.state.healthy = True
                    self._save()
                return
            # Failures count once the start grace is over, or at once after a first success.
            if launched - started < check.start_grace_s and index not in self._seen_ok:
                return
            consecutive += 1
            self._failing.add(index)
            if self.state.healthy is not False:
                self.state.healthy = False
                self._save()
            if consecutive >= check.failures and not unhealthy.done():
                unhealthy.set_result(
                    f"{describe_check(check)} failed {consecutive} times in a row ({detail})"
                )

        next_at = loop.time()
        try:
            while True:
                launched = loop.time()
                task = asyncio.create_task(self.prober.probe(check))
                pending.add(task)
                task.add_done_callback(functools.partial(done, launched=launched))
                next_at += check.interval_s
                delay = next_at - loop.time()
                if delay < 0:  # fell behind (a loaded machine): no burst of catch-up probes
                    next_at, delay = loop.time(), 0.0
                await asyncio.sleep(delay)
        finally:
            for task in list(pending):
                task.cancel()

    # -- endings ----------------------------------------------------------------------------

    async def _ended(self, ended: _Ended) -> None:
        """A run ended (exit, hang, spawn failure): record it, then restart per policy."""
        handle = self.handle
        pid = handle.pid if handle is not None else None
        if ended.reason == "unhealthy" and handle is not None:
            self._set("stopping", ended.detail)
            code, killed = await stop_process(
                handle, self.config.signal_number, self.config.stop_timeout_s
            )
            ended = _Ended("unhealthy", code, f"unhealthy: {ended.detail}")
            self.recorder.event(
                self.name,
                "error",
                f"service {self.name} hung: {ended.detail}",
                {"reason": "hang", "pid": pid, "killed": killed},
                key=f"{self.name}:{pid}:{handle.create_time}:hung",
            )
        elif handle is not None:
            failed = ended.code != 0
            self.recorder.event(
                self.name,
                "error" if failed else "warning",
                f"service {self.name} exited: {ended.detail}",
                {"reason": "crash" if failed else "exit", "pid": pid, "exit_code": ended.code},
                key=f"{self.name}:{pid}:{handle.create_time}:exited",
            )
        if handle is not None:
            handle.close()
            self.handle = None
            self.recorder.audit(
                "service.exited",
                self.name,
                {
                    "pid": pid,
                    "exit_code": ended.code if ended.code is None or ended.code >= 0 else None,
                    "signal": -ended.code if ended.code is not None and ended.code < 0 else None,
                    "reason": ended.detail,
                },
            )
        while True:
            self.state.last_exit = ended.detail
            failures = self.limiter.record_end(stable=self._stable)
            if not wants_restart(self.config.restart, ended.reason, ended.code):
                self._set("exited", f"{ended.detail}; restart policy {self.config.restart}")
                return
            delay = backoff_delay(self.config.backoff, failures, self.rng)
            if delay > 0:
                self._set("backoff", f"{ended.detail}; restarting in {delay:.2f}s")
                command = await self._wait_for_command(delay)
                if command is not None:
                    await self._command(command)
                    return
            if not self.limiter.may_start(self.monotonic()):
                self._fatal(ended.detail)
                return
            if self._start(first=False, by=ACTOR, manual=False):
                return
            self._stable = False  # could not even spawn: an unstable run
            ended = _Ended("exited", None, self.state.last_exit or "could not start")

    async def _wait_for_command(self, delay: float) -> Command | None:
        try:
            return await asyncio.wait_for(self._commands.get(), delay)
        except TimeoutError:
            return None

    def _fatal(self, last: str) -> None:
        limit = self.config.start_limit
        reason = f"{limit.burst} starts within {limit.window_s:g}s (start limit); last run: {last}"
        self._set("fatal", reason)
        log.error(f"service {self.name} is fatal: {reason}", event_type="service.fatal")
        self.recorder.audit("service.fatal", self.name, {"reason": reason, "last_exit": last})
        self.recorder.event(
            self.name,
            "critical",
            f"service {self.name} keeps crashing; restarts stopped: {reason}",
            {"reason": "start_limit", "last_exit": last},
            key=f"{self.name}:fatal:{self.state.started_at}",
        )
        self.recorder.ticket(
            title=f"service {self.name} is crash-looping: Grace stopped restarting it",
            body=(
                f"{reason}.\nLogs: grace services logs {self.name}\n"
                f"After fixing the cause: grace services start {self.name}"
            ),
            severity="critical",
            service=self.name,
            context={"last_exit": last, "argv": self.config.argv},
            actor=ACTOR,
        )

    # -- commands ---------------------------------------------------------------------------

    async def _command(self, command: Command) -> None:
        try:
            await self._carry_out(command)
        finally:
            if command.id:
                # Whoever waits for this request knows the state it sees is the answer to it,
                # not to an automatic restart that happened to land first.
                self.state.handled_request = command.id
                self._save()

    async def _carry_out(self, command: Command) -> None:
        if command.action == "start":
            if self.handle is None:
                await self._start_loop(by=command.by, manual=True)
            else:
                self._save()  # already running: the answer the CLI waits for
            return
        if self.handle is not None:
            handle = self.handle
            self._set("stopping", f"{command.action} by {command.by}")
            code, killed = await stop_process(
                handle, self.config.signal_number, self.config.stop_timeout_s
            )
            handle.close()
            self.handle = None
            self.recorder.audit(
                "service.stopped",
                self.name,
                {
                    "pid": handle.pid,
                    "exit": describe_exit(code),
                    "killed": killed,
                    "reason": command.reason or command.action,
                },
                actor=command.by,
            )
        if command.action == "restart":
            await self._start_loop(by=command.by, manual=True)
        else:
            self._set("stopped", f"stopped by {command.by}")

    # -- state ------------------------------------------------------------------------------

    def _set(self, status: ServiceStatus, reason: str) -> None:
        self.state.status = status
        self.state.reason = reason
        self._save()

    def _save(self) -> None:
        write_state(self.data_dir, self.state)
        self.changed.set()
