"""A stage's configured checks: commands (real processes, argv lists) and HTTP GETs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

import anyio

from grace.boot._config import CommandCheck, HttpCheck

__all__ = ("StageFailure", "run_checks")

TAIL = 4000
"""Characters of a failed command's stderr (then stdout) kept for the report and the classifier."""


class StageFailure(Exception):
    """A stage failed: ``summary`` for the table, ``error`` (the full text) for the classifier."""

    def __init__(self, summary: str, error: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.error = error or summary


async def run_checks(
    commands: list[CommandCheck],
    http: list[HttpCheck],
    *,
    service: str | None,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Run every check (all of them, even after a failure); one detail line each.

    Raises:
        StageFailure: naming the failed checks, with their output as the error text.
    """
    details: list[str] = []
    failures: list[tuple[str, str]] = []
    for command in commands:
        if service and command.service not in ("", service):
            continue
        ok, line, error = await anyio.to_thread.run_sync(_run_command, command, env or {})
        details.append(line)
        if not ok:
            failures.append((command.name, error))
    for check in http:
        if service and check.service not in ("", service):
            continue
        ok, line = await _get(check)
        details.append(line)
        if not ok:
            failures.append((check.name, line))
    if failures:
        names = ", ".join(name for name, _ in failures)
        error = "\n".join(text for _, text in failures)
        msg = f"{len(failures)} check(s) failed: {names}"
        raise StageFailure(msg, error)
    return details


def _run_command(check: CommandCheck, extra_env: Mapping[str, str]) -> tuple[bool, str, str]:
    env = {**os.environ, **check.env, **extra_env}
    try:
        proc = subprocess.run(
            check.argv,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=check.timeout_s,
            cwd=check.cwd,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        line = f"{check.name}: timed out after {check.timeout_s:g}s"
        return False, line, f"{line}\n{_text(exc.stderr)[-TAIL:]}"
    except OSError as exc:
        line = f"{check.name}: cannot start {check.argv[0]!r}: {exc.strerror or exc}"
        return False, line, line
    if proc.returncode == check.expect_exit:
        return True, f"{check.name}: exit {proc.returncode} (ok)", ""
    line = f"{check.name}: exit {proc.returncode}, expected {check.expect_exit}"
    output = (proc.stderr or "")[-TAIL:] + ("\n" + proc.stdout[-TAIL:] if proc.stdout else "")
    return False, line, f"{line}\n{output.strip()}"


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


async def _get(check: HttpCheck) -> tuple[bool, str]:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=check.timeout_s) as client:
            response = await client.get(check.url)
    except httpx.HTTPError as exc:
        return False, f"{check.name}: GET {check.url} failed: {exc!r}"
    if response.status_code == check.expect_status:
        return True, f"{check.name}: GET {check.url} → {response.status_code} (ok)"
    body = response.text[:500]
    return (
        False,
        f"{check.name}: GET {check.url} → {response.status_code}, expected {check.expect_status}\n{body}",
    )
