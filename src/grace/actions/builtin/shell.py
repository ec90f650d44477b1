"""``shell``: run one program with an argv list. There is never a shell in between.

A templated value is always exactly one argv element, so ``x; rm -rf /`` reaches the program
as that literal text. To use shell syntax on purpose, write ``['sh', '-c', 'script', 'sh',
'{{ value }}']`` and read the value as ``"$1"`` in the script.

The child starts in its own session (its own process group). When the step is cancelled
(timeout, run deadline, shutdown), the whole group gets SIGTERM, then SIGKILL after 2 s, so
nothing it spawned outlives the step. Output is captured up to ``max_output_bytes`` per
stream; the rest is read and discarded so the child never blocks on a full pipe. Background
children still holding the pipes after the program exits get 0.5 s before Grace stops reading.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from pathlib import Path
from typing import Annotated, Any

import anyio
from pydantic import AfterValidator, Field, field_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, EnvName, text_no_nul
from grace.errors import ActionError

__all__ = ("ShellParams", "run_shell")

KILL_AFTER_S = 2.0
"""Seconds between SIGTERM and SIGKILL when a step is cancelled."""
_DRAIN_AFTER_EXIT_S = 0.5
_READ_CHUNK = 65536
_POLL_S = 0.05

Arg = Annotated[str, AfterValidator(text_no_nul)]


class ShellParams(BuiltinParams):
    """Parameters of ``shell``."""

    argv: list[Arg] = Field(min_length=1, max_length=10_000)
    """The program and its arguments, one element each: ``['systemctl', 'restart', 'api']``."""
    env: dict[EnvName, Arg] = Field(default_factory=dict)
    """Extra environment variables (on top of Grace's and the run's)."""
    cwd: Arg | None = None
    """Working directory; must exist."""
    expect_exit: list[Annotated[int, Field(ge=-255, le=255)]] = Field(
        default_factory=lambda: [0], min_length=1
    )
    """Exit codes that count as success (negative: killed by that signal)."""
    stdin: str | None = None
    """Text fed to the program's standard input (otherwise it reads /dev/null)."""
    max_output_bytes: int = Field(default=65_536, ge=1, le=10_000_000)
    """Bytes of stdout and of stderr kept; the rest is discarded and the summary says so."""

    @field_validator("argv", mode="before")
    @classmethod
    def _argv_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            msg = (
                "argv must be a list of arguments, not one string: Grace never runs a shell, so "
                "write ['systemctl', 'restart', 'api'] (for shell syntax on purpose, "
                "['sh', '-c', 'script'])"
            )
            raise ValueError(msg)  # noqa: TRY004 - pydantic reports ValueError with the field name
        return value

    @field_validator("argv")
    @classmethod
    def _program_named(cls, value: list[str]) -> list[str]:
        if not value[0]:
            msg = "argv[0] is empty: it must name the program to run, like 'systemctl'"
            raise ValueError(msg)
        return value


def _describe(p: ShellParams) -> str:
    text = f"would run {p.argv!r}"
    if p.cwd is not None:
        text += f" in {p.cwd}"
    extras = []
    if p.env:
        extras.append(f"env: {', '.join(sorted(p.env))}")
    if p.stdin is not None:
        extras.append(f"stdin: {len(p.stdin.encode())} bytes")
    if p.expect_exit != [0]:
        extras.append(f"expecting exit {' or '.join(map(str, p.expect_exit))}")
    return f"{text} ({'; '.join(extras)})" if extras else text


class _Capture:
    """Keeps the first ``limit`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.done = anyio.Event()

    async def drain(self, stream: asyncio.StreamReader) -> None:
        try:
            while chunk := await stream.read(_READ_CHUNK):
                self.total += len(chunk)
                room = self.limit - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
        finally:
            self.done.set()

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stream.write(data)
        await stream.drain()
        stream.close()
        await stream.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program exited or closed stdin without reading it all: not our failure


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def _exit_code(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process exits.

    Python 3.11's ``Process.wait()`` also waits until every pipe is closed, which a background
    grandchild can postpone forever; the return code itself is known at once. The poll starts
    at 1 ms and backs off to ``_POLL_S``: a quick command is seen to exit within a few ms, a long
    one costs 20 wake-ups a second.
    """
    delay = 0.001
    while proc.returncode is None:  # polled: see the docstring
        await anyio.sleep(delay)
        delay = min(delay * 2, _POLL_S)
    return proc.returncode


async def _stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's whole process group; SIGKILL whatever is left after 2 s."""
    pgid = proc.pid  # start_new_session=True: the child leads its own group
    if _signal_group(pgid, signal.SIGTERM):
        with anyio.move_on_after(KILL_AFTER_S):
            await _exit_code(proc)
            # Grandchildren may outlive the leader; a process group offers nothing to wait on.
            while _signal_group(pgid, 0):  # noqa: ASYNC110
                await anyio.sleep(_POLL_S)
            return
        _signal_group(pgid, signal.SIGKILL)
    with anyio.move_on_after(KILL_AFTER_S):
        await _exit_code(proc)


def _release_pipes(proc: asyncio.subprocess.Process) -> None:
    # A background grandchild may still hold the pipes; stop watching them so their file
    # descriptors are not leaked (asyncio keeps no public handle for this but the transport).
    transport = getattr(proc, "_transport", None)
    if transport is not None and proc.returncode is not None:
        transport.close()


async def _communicate(
    proc: asyncio.subprocess.Process, stdin: str | None, out: _Capture, err: _Capture
) -> int:
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(out.drain, proc.stdout)
            tg.start_soon(err.drain, proc.stderr)
            if stdin is not None and proc.stdin is not None:
                tg.start_soon(_feed, proc.stdin, stdin.encode())
            code = await _exit_code(proc)
            with anyio.move_on_after(_DRAIN_AFTER_EXIT_S):
                await out.done.wait()
                await err.done.wait()
            tg.cancel_scope.cancel()
    except BaseException:
        # Cancelled (step timeout, run deadline, shutdown) or failed: leave no process behind.
        with anyio.CancelScope(shield=True):
            await _stop_group(proc)
        raise
    finally:
        _release_pipes(proc)
    return code


def _not_found(program: str, env: dict[str, str], exc: OSError) -> ActionError:
    if isinstance(exc, PermissionError):
        msg = f"cannot execute {program!r}: permission denied"
        err = ActionError(msg, retryable=False, type="ExecutableNotRunnable")
        err.hint = "check that the file is executable (chmod +x) and on a filesystem without noexec"
        return err
    msg = f"executable {program!r} not found"
    err = ActionError(msg, retryable=False, type="ExecutableNotFound")
    if "/" in program:
        err.hint = "check the path, or install the program"
    else:
        err.hint = f"install it or give its absolute path (searched PATH={env.get('PATH', '')})"
    return err


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit {code}"


def _shown(argv: list[str], limit: int = 200) -> str:
    text = shlex.join(argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@action(
    "shell",
    params=ShellParams,
    risk="medium",
    idempotent=False,
    outputs=("exit_code", "stdout", "stderr", "truncated"),
    describe=_describe,
)
async def run_shell(ctx: ActionContext, params: ShellParams) -> ActionResult:
    """Run a program with an argv list (never through a shell) and capture its output."""
    if params.cwd is not None and not Path(params.cwd).is_dir():  # noqa: ASYNC240 - one stat
        msg = f"cwd {params.cwd!r} is not an existing directory"
        raise ActionError(msg, retryable=False, type="DirectoryMissing")
    env = {**os.environ, **ctx.env, **params.env}
    try:
        proc = await asyncio.create_subprocess_exec(
            *params.argv,
            stdin=asyncio.subprocess.PIPE
            if params.stdin is not None
            else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=params.cwd,
            env=env,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise _not_found(params.argv[0], env, exc) from exc
    out, err = _Capture(params.max_output_bytes), _Capture(params.max_output_bytes)
    code = await _communicate(proc, params.stdin, out, err)
    stderr = err.text()
    outputs: dict[str, Any] = {
        "exit_code": code,
        "stdout": out.text(),
        "stderr": stderr,
        "truncated": out.truncated or err.truncated,
    }
    notes = [
        f"{name} truncated to {cap.limit} of {cap.total} bytes"
        for name, cap in (("stdout", out), ("stderr", err))
        if cap.truncated
    ]
    note = f" ({'; '.join(notes)})" if notes else ""
    if code in params.expect_exit:
        return ActionResult(
            ok=True, summary=f"{_exit_text(code)}: {_shown(params.argv)}{note}", outputs=outputs
        )
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no stderr"
    expected = " or ".join(map(str, params.expect_exit))
    summary = (
        f"{_exit_text(code)} (expected {expected}): {_shown(params.argv, 80)}: {last[:300]}{note}"
    )
    return ActionResult(ok=False, summary=summary, outputs=outputs)
