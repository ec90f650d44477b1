"""The names templates and conditions see, built in one place for the governor and the runner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ("template_names",)


def template_names(
    *,
    event: Mapping[str, Any],
    captures: Mapping[str, Any],
    playbook: str,
    config: Mapping[str, Any],
    flags: Mapping[str, Any],
    vars: Mapping[str, Any] | None = None,
    steps: Mapping[str, Mapping[str, Any]] | None = None,
    run: Mapping[str, Any] | None = None,
    signature: str | None = None,
) -> dict[str, Any]:
    """``event``, ``diagnosis``, ``vars``, ``config``, ``steps``, ``run``, ``context`` and the flags.

    Plain data only (no live objects): the sandbox sees copies.
    """
    diagnosis: dict[str, Any] = {**captures, "captures": dict(captures), "playbook": playbook}
    if signature is not None:
        diagnosis["signature"] = signature
    names: dict[str, Any] = {
        "event": dict(event),
        "diagnosis": diagnosis,
        "vars": dict(vars or {}),
        "config": dict(config),
        "steps": {name: dict(value) for name, value in (steps or {}).items()},
        "run": dict(run or {"playbook": playbook}),
        "context": dict(flags),
    }
    names.update(flags)
    return names
