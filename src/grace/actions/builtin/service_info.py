"""``service.info``: what ``grace serve``'s supervisor records about a service, read-only.

It reads the service's state file (``<data_dir>/services/<name>.json``, as ``grace services
list`` does). With ``file`` (a config or dotenv file the service reads at start) it also says
whether the running process was started after that file last changed: if so it already runs
with the file's current content, and a restart would change nothing
(``when: "not steps.x.outputs.started_after_file"``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import target_path
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.errors import ActionError

__all__ = ("ServiceInfoParams", "service_info")


class ServiceInfoParams(BuiltinParams):
    """Parameters of ``service.info``."""

    service: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9_.@-]*$")
    """The supervised service (a name under ``services:``); empty means the run's service."""
    file: FilePath | None = None
    """A file the service reads at start: ``started_after_file`` says if it runs with its content."""


def _describe(p: ServiceInfoParams) -> str:
    also = f" and compare its start with {p.file}'s last change" if p.file else ""
    return f"would read the supervisor's state of {p.service or 'the run service'}{also}"


def _modified(path: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(target_path(path).stat().st_mtime, UTC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"cannot stat {path}: {exc.strerror or exc}"
        raise ActionError(msg, retryable=False, type="FileUnreadable") from None


@action(
    "service.info",
    params=ServiceInfoParams,
    risk="low",
    idempotent=True,
    outputs=("service", "status", "pid", "started_at", "restarts", "started_after_file"),
    describe=_describe,
)
async def service_info(ctx: ActionContext, params: ServiceInfoParams) -> ActionResult:
    """Read a supervised service's state: status, pid, start time, and if it started after a file changed."""
    from grace.supervisor import read_state

    name = params.service or ctx.service
    if not name:
        msg = "service.info needs a service: this run has none; set 'service:' in the step's with:"
        raise ActionError(msg, retryable=False, type="NoService")
    state = await anyio.to_thread.run_sync(lambda: read_state(ctx.data_dir, name))
    if state is None:
        msg = (
            f"{name!r} has no state file under {ctx.data_dir / 'services'}: is it a service "
            "of grace serve (check 'grace services list')?"
        )
        raise ActionError(msg, retryable=False, type="UnknownService")
    running = state.status == "running"
    # started_at is stamped by the supervisor when it spawns the process (psutil's create_time
    # is only accurate to the second: the kernel's boot time is a whole number of seconds).
    started = datetime.fromisoformat(state.started_at) if running and state.started_at else None
    after_file = False
    if params.file is not None and started is not None:
        file = params.file
        modified = await anyio.to_thread.run_sync(lambda: _modified(file))
        after_file = modified is not None and started > modified
    outputs = {
        "service": name,
        "status": state.status,
        "pid": state.pid if running else None,
        "started_at": started.isoformat() if started else None,
        "restarts": state.restarts,
        "started_after_file": after_file,
    }
    summary = f"{name}: {state.status}" + (f" (pid {state.pid})" if outputs["pid"] else "")
    if after_file:
        summary += f", started after {params.file} last changed"
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)
