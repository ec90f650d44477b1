"""``ports.monitor``: read the port watchdog's monitor list as it is now (read-only).

``ports.prune`` rewrites ``<data_dir>/ports/monitor.json`` on every pass. A playbook that
must restart a watchdog only when its list changed reads the list first with this action and
compares it with ``ports.prune``'s ``monitor`` output (``port_inventory_cleanup`` does).
"""

from __future__ import annotations

import json

import anyio.to_thread

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams

__all__ = ("PortsMonitorParams", "read_monitor_list")


class PortsMonitorParams(BuiltinParams):
    """Parameters of ``ports.monitor`` (none: the list lives in Grace's data dir)."""


@action(
    "ports.monitor",
    params=PortsMonitorParams,
    risk="low",
    idempotent=True,
    outputs=("monitor", "updated_at", "exists"),
    describe=lambda _p: "would read the watchdog's monitor list (<data_dir>/ports/monitor.json)",
)
async def read_monitor_list(ctx: ActionContext, params: PortsMonitorParams) -> ActionResult:
    """Read the watchdog's monitor list, ``[{service, port}]``, as last published."""
    from grace.ports import monitor_path, read_monitor

    path = monitor_path(ctx.data_dir)

    def read() -> tuple[list[tuple[str, int]], str | None, bool]:
        pairs = read_monitor(ctx.data_dir)
        try:
            updated = json.loads(path.read_text(encoding="utf-8")).get("updated_at")
        except (OSError, ValueError, AttributeError):
            return pairs, None, path.is_file()
        return pairs, str(updated) if updated else None, True

    pairs, updated_at, exists = await anyio.to_thread.run_sync(read)
    monitor = [{"service": service, "port": port} for service, port in pairs]
    shown = ", ".join(f"{s}:{p}" for s, p in pairs) or "nothing"
    summary = f"the watchdog monitors {shown}" if exists else f"no monitor list yet ({path})"
    return ActionResult(
        ok=True,
        summary=summary,
        outputs={"monitor": monitor, "updated_at": updated_at, "exists": exists},
        changed=False,
    )
