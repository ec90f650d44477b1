"""The names templates and conditions see: ``event``, ``diagnosis``, ``vars``, ``config``, ``steps``, ``run``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grace.playbooks._names import template_names
from grace.runs import Run

__all__ = ("Placeholder", "template_context")


def _default_event(run: Run) -> dict[str, Any]:
    return {
        "id": None,
        "time": run.created_at.isoformat(),
        "source": run.trigger,
        "kind": "manual",
        "service": run.service,
        "severity": "info",
        "message": "",
        "attributes": {},
    }


def template_context(
    run: Run,
    *,
    config: Mapping[str, Any],
    steps: Mapping[str, Mapping[str, Any]],
    flags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a template may read for this run, as plain data (no live objects)."""
    return template_names(
        event=run.event or _default_event(run),
        captures=run.captures,
        playbook=run.playbook,
        config=config,
        flags=flags or {},
        vars=run.vars,
        steps=steps,
        run={
            "id": run.id,
            "playbook": run.playbook,
            "dry_run": run.dry_run,
            "service": run.service,
        },
    )


class Placeholder:
    """Stands for a value only known at run time (an earlier step's output) in a dry-run plan."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Placeholder:
        if name.startswith("_"):
            raise AttributeError(name)
        return Placeholder(f"{self._path}.{name}")

    def __getitem__(self, key: object) -> Placeholder:
        return Placeholder(f"{self._path}[{key!r}]")

    def __str__(self) -> str:
        return f"<{self._path} at run time>"

    __repr__ = __str__
