"""The ``shell`` action against real subprocesses."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from grace.actions import ActionContext
from grace.actions.builtin.shell import ShellParams, run_shell
from grace.errors import ActionError

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


async def _run(ctx: ActionContext, params: ShellParams) -> None:
    await run_shell(ctx, params)


def _pids_in(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


async def _read_pid(path: Path) -> int:
    """The first pid the child wrote to ``path`` (polling: another process writes it)."""
    with anyio.fail_after(5):
        while not _pids_in(path):  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return _pids_in(path)[0]


async def test_templated_value_through_sh_c_stays_one_literal_argument(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """A value passed as "$1" to sh -c is printed, never executed: the victim dir survives."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    hostile = f"x; rm -rf {victim}"
    params = ShellParams(argv=["sh", "-c", 'echo "$1"', "sh", hostile])

    result = await run_shell(make_ctx(), params)

    assert result.ok
    assert result.outputs["stdout"] == hostile + "\n"
    assert (victim / "keep.txt").read_text() == "precious"


async def test_templated_value_as_echo_argument_is_not_a_command(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """Without any shell, '; rm -rf' in an argument is just text echo prints."""
    victim = tmp_path / "victim"
    victim.mkdir()
    hostile = f"x; rm -rf {victim}"

    result = await run_shell(make_ctx(), ShellParams(argv=["echo", hostile]))

    assert result.ok
    assert result.outputs["stdout"] == hostile + "\n"
    assert victim.is_dir()


async def test_success_reports_exit_code_and_output(make_ctx: MakeCtx) -> None:
    """Exit 0 is success; stdout, stderr and the exit code are outputs."""
    argv = ["sh", "-c", "echo out; echo err >&2"]

    result = await run_shell(make_ctx(), ShellParams(argv=argv))

    assert result.ok
    assert result.outputs == {
        "exit_code": 0,
        "stdout": "out\n",
        "stderr": "err\n",
        "truncated": False,
    }
    assert result.summary == "exit 0: sh -c 'echo out; echo err >&2'"


async def test_unexpected_exit_fails_with_last_stderr_line(make_ctx: MakeCtx) -> None:
    """A non-expected exit code is a (retryable) failure naming the code and the last error."""
    argv = ["sh", "-c", "echo first >&2; echo 'disk is full' >&2; exit 3"]

    result = await run_shell(make_ctx(), ShellParams(argv=argv))

    assert not result.ok
    assert result.outputs["exit_code"] == 3
    assert result.summary.startswith("exit 3 (expected 0): ")
    assert result.summary.endswith(": disk is full")


async def test_expect_exit_accepts_other_codes(make_ctx: MakeCtx) -> None:
    """expect_exit lists the codes that count as success."""
    params = ShellParams(argv=["sh", "-c", "exit 1"], expect_exit=[0, 1])

    result = await run_shell(make_ctx(), params)

    assert result.ok
    assert result.outputs["exit_code"] == 1


async def test_killed_by_signal_is_named(make_ctx: MakeCtx) -> None:
    """A child killed by a signal reports the signal's name."""
    result = await run_shell(make_ctx(), ShellParams(argv=["sh", "-c", "kill -9 $$"]))

    assert not result.ok
    assert result.outputs["exit_code"] == -9
    assert result.summary.startswith("killed by SIGKILL (expected 0)")


async def test_missing_executable_is_not_retryable(make_ctx: MakeCtx) -> None:
    """A program that does not exist fails at once, with a hint showing PATH."""
    params = ShellParams(argv=["grace-no-such-program", "--help"], env={"PATH": "/nowhere"})

    with pytest.raises(ActionError, match="executable 'grace-no-such-program' not found") as info:
        await run_shell(make_ctx(), params)

    assert info.value.retryable is False
    assert info.value.type == "ExecutableNotFound"
    assert info.value.hint == "install it or give its absolute path (searched PATH=/nowhere)"


async def test_missing_cwd_is_not_retryable(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A working directory that does not exist is a clear, non-retryable error."""
    params = ShellParams(argv=["true"], cwd=str(tmp_path / "absent"))

    with pytest.raises(ActionError, match="is not an existing directory") as info:
        await run_shell(make_ctx(), params)

    assert info.value.retryable is False


async def test_env_cwd_and_stdin_reach_the_child(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Step env overrides the context env; cwd and stdin are honoured."""
    script = 'printf "%s %s %s " "$FROM_CTX" "$FROM_STEP" "$(pwd)"; cat'
    params = ShellParams(
        argv=["sh", "-c", script], env={"FROM_STEP": "step"}, cwd=str(tmp_path), stdin="piped"
    )
    ctx = make_ctx(env={"FROM_CTX": "ctx", "FROM_STEP": "overridden"})

    result = await run_shell(ctx, params)

    assert result.outputs["stdout"] == f"ctx step {tmp_path} piped"


async def test_output_is_truncated_and_the_summary_says_so(make_ctx: MakeCtx) -> None:
    """Output beyond max_output_bytes is dropped (without blocking the child) and reported."""
    code = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('e' * 10)"
    params = ShellParams(argv=[sys.executable, "-c", code], max_output_bytes=100)

    result = await run_shell(make_ctx(), params)

    assert result.ok
    assert result.outputs["stdout"] == "x" * 100
    assert result.outputs["stderr"] == "e" * 10
    assert result.outputs["truncated"] is True
    assert result.summary.endswith("(stdout truncated to 100 of 1000000 bytes)")


async def test_unread_stdin_is_not_an_error(make_ctx: MakeCtx) -> None:
    """A program that exits without reading its stdin still succeeds."""
    params = ShellParams(argv=["true"], stdin="y" * 1_000_000)

    result = await run_shell(make_ctx(), params)

    assert result.ok


async def test_cancellation_terminates_the_child(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """When the step's scope is cancelled the child is stopped before the action returns."""
    pidfile = tmp_path / "pid"
    params = ShellParams(argv=["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"])

    async with anyio.create_task_group() as tg:
        with anyio.move_on_after(10) as scope:
            tg.start_soon(_run, make_ctx(), params)
            pid = await _read_pid(pidfile)
            tg.cancel_scope.cancel()

    assert not scope.cancelled_caught
    assert _wait_gone(pid, within=0.5)


@pytest.mark.slow
async def test_cancellation_kills_the_whole_group_after_sigterm_is_ignored(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """A child ignoring SIGTERM, and its own child, are SIGKILLed about 2 s after the cancel."""
    pidfile = tmp_path / "pids"
    script = f"trap '' TERM; sleep 30 & echo $$ $! > {pidfile}; wait"
    params = ShellParams(argv=["sh", "-c", script])

    started = time.monotonic()
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_run, make_ctx(), params)
            await _read_pid(pidfile)
            tg.cancel_scope.cancel()
    elapsed = time.monotonic() - started

    leader, grandchild = _pids_in(pidfile)
    assert _wait_gone(leader, within=0.5)
    assert _wait_gone(grandchild, within=0.5)
    assert 1.5 < elapsed < 4.5


async def test_background_child_holding_the_pipe_does_not_hang_the_step(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """A daemon left holding stdout delays the result by at most about half a second."""
    pidfile = tmp_path / "pid"
    params = ShellParams(argv=["sh", "-c", f"echo started; sleep 5 & echo $! > {pidfile}"])

    started = time.monotonic()
    result = await run_shell(make_ctx(), params)
    elapsed = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError):
        os.kill(_pids_in(pidfile)[0], signal.SIGKILL)

    assert result.ok
    assert result.outputs["stdout"] == "started\n"
    assert elapsed < 3
