"""``flag.set``: switch a service's optional feature on or off in a JSON flags file.

This is graceful degradation: a playbook turns off the feature that is failing (the
recommendation widget, the vector search) and lets the rest of the service run. The file is
one JSON object, ``{"<name>": {"enabled": false, "expires_at": "<ISO-8601 UTC>" | null}}``;
other flags and keys are kept. The service reads it and treats an entry whose ``expires_at``
has passed as absent. Updates are atomic and serialised (a directory lock), so two runs
flipping different flags in the same file never lose each other's change.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import directory_lock, read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.errors import ActionError

__all__ = ("FlagSetParams", "set_flag")

NEW_FILE_MODE = 0o644
"""Mode of a flags file ``flag.set`` creates (an existing file keeps its mode)."""


class FlagSetParams(BuiltinParams):
    """Parameters of ``flag.set``."""

    file: FilePath
    """The JSON flags file (created when missing; its directory must exist)."""
    name: str = Field(pattern=r"^[a-z_]+$", max_length=100)
    """The flag, lower_snake_case letters only (``recommendations``)."""
    enabled: bool
    """True switches the feature on, False off."""
    ttl_min: int | None = Field(default=None, ge=1, le=120)
    """Minutes until the entry expires and the service's default applies again."""


def _describe(p: FlagSetParams) -> str:
    state = "enabled" if p.enabled else "disabled"
    ttl = f" for {p.ttl_min} min" if p.ttl_min is not None else " until changed"
    return f"would set flag {p.name!r} to {state} in {p.file}{ttl}"


@action(
    "flag.set",
    params=FlagSetParams,
    risk="low",
    idempotent=True,
    outputs=("file", "name", "enabled", "expires_at"),
    describe=_describe,
)
async def set_flag(ctx: ActionContext, params: FlagSetParams) -> ActionResult:
    """Turn a feature flag on or off (optionally for a while) in a JSON flags file."""
    path = target_path(params.file)
    expires_at = None
    if params.ttl_min is not None:
        expires = ctx.clock.now().astimezone(UTC) + timedelta(minutes=params.ttl_min)
        expires_at = expires.isoformat().replace("+00:00", "Z")
    entry = {"enabled": params.enabled, "expires_at": expires_at}

    def update() -> bool:
        with directory_lock(path):
            current = read_bytes(path)
            flags: dict[str, Any] = {}
            mode = NEW_FILE_MODE
            if current is not None:
                mode = current[1]
                if current[0].strip():
                    try:
                        flags = json.loads(current[0])
                    except ValueError as exc:
                        msg = f"flags file {path} is not valid JSON ({exc}); fix or remove it"
                        raise ActionError(msg, retryable=False, type="BadFlagsFile") from exc
                    if not isinstance(flags, dict):
                        msg = (
                            f"flags file {path} must hold a JSON object, not {type(flags).__name__}"
                        )
                        raise ActionError(msg, retryable=False, type="BadFlagsFile")
            if flags.get(params.name) == entry:
                return False
            flags[params.name] = entry
            data = (json.dumps(flags, indent=2, sort_keys=True) + "\n").encode()
            write_atomic(path, data, mode=mode)
            return True

    changed = await anyio.to_thread.run_sync(update)
    outputs = {
        "file": str(path),
        "name": params.name,
        "enabled": params.enabled,
        "expires_at": expires_at,
    }
    state = "enabled" if params.enabled else "disabled"
    until = f" until {expires_at}" if expires_at else ""
    verb = "set" if changed else "already"
    return ActionResult(
        ok=True,
        summary=f"flag {params.name} {verb} {state}{until} in {path}",
        outputs=outputs,
        changed=changed,
    )
