"""Built-in actions that talk to the engine (tickets, child runs, logs, time), with fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from grace.actions import ActionContext
from grace.actions.builtin.log import LogParams, emit, write_log
from grace.actions.builtin.playbooks import PlaybookRunParams, run_playbook
from grace.actions.builtin.sleep import SleepParams, sleep_for
from grace.actions.builtin.tickets import TicketParams, open_ticket
from grace.actions.builtin.wait import WaitParams, wait_until
from grace.errors import ActionError
from grace.runs import Ticket

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


class FakeDesk:
    """A TicketDesk that keeps tickets in a list."""

    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []

    def open_ticket(
        self,
        *,
        title: str,
        body: str,
        severity: str,
        service: str,
        run_id: str | None,
        context: Mapping[str, Any],
    ) -> Ticket:
        self.opened.append(
            {
                "title": title,
                "body": body,
                "severity": severity,
                "service": service,
                "run_id": run_id,
                "context": context,
            }
        )
        return Ticket(
            id=f"tkt_{len(self.opened)}", created_at=datetime(2024, 5, 1, tzinfo=UTC), title=title
        )


class FakeLauncher:
    """A PlaybookLauncher that records calls and answers a fixed status."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def run_playbook(
        self, name: str, *, vars: Mapping[str, Any], parent_run_id: str, wait: bool
    ) -> tuple[str, str]:
        self.calls.append(
            (name, {"vars": dict(vars), "parent_run_id": parent_run_id, "wait": wait})
        )
        return "run_child", self.status


async def test_ticket_open_files_a_ticket_for_the_runs_service(make_ctx: MakeCtx) -> None:
    """The ticket carries the run id, and the run's service when none is given."""
    desk = FakeDesk()
    params = TicketParams(
        title="db still locked", body="see run", severity="error", context={"pids": [4]}
    )

    result = await open_ticket(make_ctx(tickets=desk), params)

    assert result.ok
    assert result.outputs == {"ticket_id": "tkt_1"}
    assert result.summary == "opened error ticket tkt_1: db still locked"
    assert desk.opened == [
        {
            "title": "db still locked",
            "body": "see run",
            "severity": "error",
            "service": "api",
            "run_id": "run_test",
            "context": {"pids": [4]},
        }
    ]


async def test_ticket_open_uses_the_given_service(make_ctx: MakeCtx) -> None:
    """An explicit service wins over the run's."""
    desk = FakeDesk()

    await open_ticket(make_ctx(tickets=desk), TicketParams(title="t", service="vectors"))

    assert desk.opened[0]["service"] == "vectors"


async def test_ticket_open_without_a_desk_is_not_retryable(make_ctx: MakeCtx) -> None:
    """No ticket desk configured: fail at once, never retry."""
    with pytest.raises(ActionError, match=r"^ticket\.open needs a ticket desk") as info:
        await open_ticket(make_ctx(), TicketParams(title="t"))

    assert info.value.retryable is False


async def test_playbook_run_waits_and_succeeds(make_ctx: MakeCtx) -> None:
    """A waited child that succeeded is a success; the parent run id is passed on."""
    launcher = FakeLauncher("succeeded")
    params = PlaybookRunParams(name="restart_api", vars={"n": 1})

    result = await run_playbook(make_ctx(launcher=launcher), params)

    assert result.ok
    assert result.outputs == {"run_id": "run_child", "status": "succeeded"}
    assert launcher.calls == [
        ("restart_api", {"vars": {"n": 1}, "parent_run_id": "run_test", "wait": True})
    ]


async def test_playbook_run_fails_when_the_child_failed(make_ctx: MakeCtx) -> None:
    """A waited child that did not succeed fails the step, naming its status."""
    result = await run_playbook(
        make_ctx(launcher=FakeLauncher("failed")), PlaybookRunParams(name="x")
    )

    assert not result.ok
    assert result.summary == "child run run_child of 'x' ended failed"


async def test_playbook_run_without_waiting_succeeds_once_started(make_ctx: MakeCtx) -> None:
    """wait: false only starts the child."""
    launcher = FakeLauncher("queued")

    result = await run_playbook(
        make_ctx(launcher=launcher), PlaybookRunParams(name="x", wait=False)
    )

    assert result.ok
    assert result.outputs["status"] == "queued"
    assert launcher.calls[0][1]["wait"] is False


async def test_playbook_run_without_a_launcher_is_not_retryable(make_ctx: MakeCtx) -> None:
    """No launcher configured: fail at once."""
    with pytest.raises(ActionError, match=r"^playbook\.run needs a playbook launcher") as info:
        await run_playbook(make_ctx(), PlaybookRunParams(name="x"))

    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("level", "logged"),
    [("DEBUG", "debug"), ("INFO", "info"), ("WARN", "warning"), ("ERROR", "error")],
)
async def test_log_writes_at_the_level(make_ctx: MakeCtx, level: str, logged: str) -> None:
    """log maps its level onto the structlog method of the same meaning."""
    ctx = make_ctx(logger=structlog.get_logger())

    with capture_logs() as logs:
        result = await write_log(
            ctx, LogParams.model_validate({"message": "restarting api", "level": level})
        )

    assert logs == [{"event": "restarting api", "log_level": logged}]
    assert result.changed is False


async def test_log_without_a_logger_is_fine(make_ctx: MakeCtx) -> None:
    """A context without a logger does not break the log action."""
    result = await write_log(make_ctx(logger=None), LogParams(message="m"))

    assert result.ok
    assert result.summary == "INFO: m"


def test_emit_falls_back_when_a_level_is_missing() -> None:
    """A minimal logger without critical() gets the message through error()."""

    class Minimal:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def error(self, message: str, **_: Any) -> None:
            self.lines.append(("error", message))

        def info(self, message: str, **_: Any) -> None:
            self.lines.append(("info", message))

    logger = Minimal()
    emit(logger, "critical", "boom")

    assert logger.lines == [("error", "boom")]


async def test_sleep_uses_the_injected_clock(make_ctx: MakeCtx, clock: Any) -> None:
    """sleep waits on ctx.clock, so a fake clock skips the wait."""
    result = await sleep_for(make_ctx(), SleepParams(seconds=900))

    assert clock.sleeps == [900]
    assert result.summary == "slept 900s"


async def test_wait_times_out_on_the_fake_clock(
    make_ctx: MakeCtx, clock: Any, tmp_path: Path
) -> None:
    """A file that never appears fails after exactly timeout_s of clock time."""
    params = WaitParams(file=str(tmp_path / "never"), interval_s=0.5, timeout_s=30)

    result = await wait_until(make_ctx(), params)

    assert not result.ok
    assert result.outputs == {"waited_s": 30.0, "probes": 61}
    assert clock.elapsed == 30
    assert result.summary == f"gave up after 30.0s waiting until {tmp_path / 'never'} exists"


async def test_wait_last_interval_is_clipped_to_the_timeout(
    make_ctx: MakeCtx, clock: Any, tmp_path: Path
) -> None:
    """The final sleep never overshoots timeout_s."""
    params = WaitParams(file=str(tmp_path / "never"), interval_s=4, timeout_s=10)

    await wait_until(make_ctx(), params)

    assert clock.sleeps == [4, 4, 2]
