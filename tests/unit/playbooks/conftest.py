"""A small action registry for the playbook tests.

The actions mirror the names, parameters and outputs of the built-ins (shell, sleep, log,
http.check, ticket.open, notify, flag.set, file.write, …) so the fixtures read like real
playbooks, without depending on the built-ins themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field, model_validator

from grace.actions import ActionContext, ActionParams, ActionRegistry, ActionResult, action

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "playbooks"


class ShellParams(ActionParams):
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    expect_exit: list[int] = Field(default_factory=lambda: [0], min_length=1)
    stdin: str | None = None
    max_output_bytes: int = Field(default=65_536, ge=1, le=10_000_000)


class SleepParams(ActionParams):
    seconds: float = Field(ge=0, le=3600)


class LogParams(ActionParams):
    message: str = Field(min_length=1)
    level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "INFO"


class HttpCheckParams(ActionParams):
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    body_regex: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=300)


class TicketParams(ActionParams):
    title: str = Field(min_length=1)
    body: str = ""
    severity: Literal["info", "warning", "error", "critical"] = "warning"
    service: str = ""
    context: dict[str, Any] = Field(default_factory=dict)


class NotifyParams(ActionParams):
    message: str = Field(min_length=1)
    level: Literal["info", "warning", "error", "critical"] = "warning"
    webhook_url: str | None = None
    title: str = ""


class FlagParams(ActionParams):
    file: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z_]+$")
    enabled: bool
    ttl_min: int | None = Field(default=None, ge=1, le=120)


class FileWriteParams(ActionParams):
    path: str = Field(min_length=1)
    content: str


class PlaybookRunParams(ActionParams):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    vars: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


class WaitUntilParams(ActionParams):
    http: str | None = None
    tcp: str | None = None
    interval_s: float = Field(default=0.5, ge=0.05, le=60)
    timeout_s: float = Field(default=30.0, ge=0.1, le=3600)

    @model_validator(mode="after")
    def _one_probe(self) -> WaitUntilParams:
        if (self.http is None) == (self.tcp is None):
            raise ValueError("give exactly one of 'http' or 'tcp'")
        return self


class FindParams(ActionParams):
    path: str


class RestartParams(ActionParams):
    service: str


class UnionParams(ActionParams):
    code: int | list[int] = 0


@action(
    "shell",
    params=ShellParams,
    risk="medium",
    outputs=("exit_code", "stdout", "stderr", "truncated"),
)
async def shell(ctx: ActionContext, params: ShellParams) -> ActionResult:
    """Run a command (argv list, never a shell string)."""
    return ActionResult()


@action("sleep", params=SleepParams, idempotent=True)
async def sleep(ctx: ActionContext, params: SleepParams) -> ActionResult:
    """Wait."""
    return ActionResult()


@action("log", params=LogParams, idempotent=True)
async def log(ctx: ActionContext, params: LogParams) -> ActionResult:
    """Write a line to the run's log."""
    return ActionResult()


@action(
    "http.check",
    params=HttpCheckParams,
    idempotent=True,
    outputs=("status", "elapsed_ms", "matched"),
)
async def http_check(ctx: ActionContext, params: HttpCheckParams) -> ActionResult:
    """Check an HTTP endpoint."""
    return ActionResult()


@action("ticket.open", params=TicketParams, outputs=("ticket_id",))
async def ticket_open(ctx: ActionContext, params: TicketParams) -> ActionResult:
    """Open a ticket for a human."""
    return ActionResult()


@action("notify", params=NotifyParams, outputs=("delivered",))
async def notify(ctx: ActionContext, params: NotifyParams) -> ActionResult:
    """Tell the humans."""
    return ActionResult()


@action("flag.set", params=FlagParams, outputs=("file", "name", "enabled", "expires_at"))
async def flag_set(ctx: ActionContext, params: FlagParams) -> ActionResult:
    """Set a feature flag."""
    return ActionResult()


@action("file.write", params=FileWriteParams, destructive=True, outputs=("path", "backup_path"))
async def file_write(ctx: ActionContext, params: FileWriteParams) -> ActionResult:
    """Overwrite a file."""
    return ActionResult()


@action("playbook.run", params=PlaybookRunParams, outputs=("run_id", "status"))
async def playbook_run(ctx: ActionContext, params: PlaybookRunParams) -> ActionResult:
    """Start another playbook."""
    return ActionResult()


@action("wait.until", params=WaitUntilParams, idempotent=True, outputs=("waited_s", "probes"))
async def wait_until(ctx: ActionContext, params: WaitUntilParams) -> ActionResult:
    """Wait until a probe passes."""
    return ActionResult()


@action("test.union", params=UnionParams)
async def test_union(ctx: ActionContext, params: UnionParams) -> ActionResult:
    """A parameter that is an int or a list of ints (union error messages)."""
    return ActionResult()


@action("process.find_open_file", params=FindParams, outputs=("pids",))
async def find_open_file(ctx: ActionContext, params: FindParams) -> ActionResult:
    """Find the processes holding a file open."""
    return ActionResult()


@action("service.restart", params=RestartParams, risk="medium")
async def service_restart(ctx: ActionContext, params: RestartParams) -> ActionResult:
    """Restart a service."""
    return ActionResult()


TEST_ACTIONS = (
    shell,
    sleep,
    log,
    http_check,
    ticket_open,
    notify,
    flag_set,
    file_write,
    playbook_run,
    wait_until,
    test_union,
    find_open_file,
    service_restart,
)


def make_registry() -> ActionRegistry:
    """A fresh registry holding the test actions."""
    registry = ActionRegistry()
    registry.register_from(TEST_ACTIONS)
    return registry


@pytest.fixture(scope="session")
def registry() -> ActionRegistry:
    """The test actions (shared: a registry is read-only once built)."""
    return make_registry()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/fixtures/playbooks``."""
    return FIXTURES
