"""Processes: spawn with log capture, identity for adoption, exit notification, the stop path.

Exit is event-driven for every process, child or adopted: a pidfd (``os.pidfd_open``) becomes
readable the moment the process ends, and the event loop wakes on it. Our own children are
reaped (their exit code is known); an adopted process is not our child, so its exit code is
unknown (``None``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from grace.supervisor._config import ServiceConfig

__all__ = (
    "ProcessHandle",
    "adopt",
    "cmdline_hash",
    "describe_exit",
    "log_path",
    "spawn",
    "stop_process",
)


def cmdline_hash(cmdline: Sequence[str]) -> str:
    """A digest of a command line (argv), stored to recognise the process later."""
    return hashlib.sha256("\0".join(cmdline).encode()).hexdigest()[:32]


def describe_exit(code: int | None) -> str:
    """``exit code 1``, ``killed by SIGKILL`` or ``exit status unknown`` (adopted)."""
    if code is None:
        return "exit status unknown (adopted process)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class ProcessHandle:
    """One running process of a service."""

    pid: int
    create_time: float
    """psutil's create time: with the pid, the process's identity (pids are reused)."""
    cmdline_hash: str
    popen: subprocess.Popen[bytes] | None
    """Set for our own child; None for an adopted process."""
    started: float = field(default_factory=time.monotonic)
    """Monotonic time it was started (or adopted)."""
    _pidfd: int | None = None
    _exit: asyncio.Future[int | None] | None = None

    @property
    def adopted(self) -> bool:
        return self.popen is None

    def exited(self) -> asyncio.Future[int | None]:
        """A future resolved with the exit code (None if unknown) when the process ends."""
        if self._exit is None:
            loop = asyncio.get_running_loop()
            self._exit = loop.create_future()
            if self._pidfd is None:
                self._exit.set_result(self._reap())
            else:
                loop.add_reader(self._pidfd, self._on_readable)
        return self._exit

    def _on_readable(self) -> None:
        assert self._exit is not None
        self._close_fd()
        if not self._exit.done():
            self._exit.set_result(self._reap())

    def _reap(self) -> int | None:
        if self.popen is not None:
            return self.popen.wait()
        return None

    def _close_fd(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def close(self) -> None:
        """Stop watching (the process keeps running)."""
        self._close_fd()
        if self._exit is not None and not self._exit.done():
            self._exit.cancel()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process's group when it leads one, else to the process."""
        try:
            if os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, signum)
            elif self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            else:
                os.kill(self.pid, signum)
        except ProcessLookupError:
            return


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def log_path(log_dir: Path, name: str) -> Path:
    """Where a service's stdout and stderr go."""
    return log_dir / "services" / f"{name}.log"


def spawn(config: ServiceConfig, *, log_dir: Path) -> ProcessHandle:
    """Start the service in a new session (Ctrl-C and Grace's own exit do not reach it).

    stdout and stderr are appended to ``<log_dir>/services/<name>.log``.

    Raises:
        OSError: the program could not be started (not found, not executable, bad cwd).
    """
    env = {**os.environ, **config.env}
    out: int | object = subprocess.DEVNULL
    fd: int | None = None
    if config.log:
        path = log_path(log_dir, config.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        out = fd
    try:
        popen = subprocess.Popen(  # argv list from the operator's config, no shell
            config.argv,
            cwd=config.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT if config.log else subprocess.DEVNULL,
            start_new_session=True,
            user=config.user,
        )
    finally:
        if fd is not None:
            os.close(fd)
    pidfd = _open_pidfd(popen.pid)
    try:
        proc = psutil.Process(popen.pid)
        create_time = proc.create_time()
        digest = cmdline_hash(proc.cmdline())
    except psutil.Error:  # already gone (or a zombie): the pidfd reports its exit
        create_time, digest = 0.0, cmdline_hash(config.argv)
    return ProcessHandle(popen.pid, create_time, digest, popen, _pidfd=pidfd)


def adopt(pid: int, create_time: float, digest: str) -> ProcessHandle | None:
    """The live process ``pid`` if it is still the one recorded (create time and command line).

    A reused pid (another program, or the same program started again) does not match.
    """
    pidfd = _open_pidfd(pid)
    if pidfd is None:
        return None
    try:
        proc = psutil.Process(pid)
        same = (
            abs(proc.create_time() - create_time) < 0.01
            and proc.status() != psutil.STATUS_ZOMBIE
            and cmdline_hash(proc.cmdline()) == digest
        )
    except psutil.Error:
        same = False
    if not same:
        os.close(pidfd)
        return None
    return ProcessHandle(pid, create_time, digest, None, _pidfd=pidfd)


async def stop_process(
    handle: ProcessHandle, signum: int, timeout_s: float
) -> tuple[int | None, bool]:
    """Stop a process: SIGCONT, then ``signum``, then SIGKILL after ``timeout_s``.

    SIGCONT goes first because a stopped (SIGSTOP, hung in a debugger) process does not act on
    SIGTERM until it is continued: without it every stop of a frozen service waits the whole
    timeout.

    Returns:
        The exit code (None if unknown) and whether SIGKILL was needed.
    """
    exited = handle.exited()
    if exited.done():
        return exited.result(), False
    handle.signal(signal.SIGCONT)
    handle.signal(signum)
    try:
        return await asyncio.wait_for(asyncio.shield(exited), timeout_s), False
    except TimeoutError:
        pass
    handle.signal(signal.SIGKILL)
    return await asyncio.shield(exited), True
