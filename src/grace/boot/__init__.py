"""``grace boot``: the startup pipeline (docs/boot.md).

Eight stages by default (preflight gate, schema sync and secrets, core services in safe mode,
startup playbooks, codec validation, autonomy load, smoke tests, continuous monitor); a critical
failure gates the rest and rolls back to the pre-boot snapshot; failures are classified against
the known-failure knowledge base (:mod:`grace.knowledge`) and fixed or proposed through the engine.

The package is lazy (PEP 562): ``grace.config`` imports :class:`BootConfig` without loading the
pipeline (and through it the engine).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from grace.boot._config import BootConfig as BootConfig
from grace.boot._config import CommandCheck as CommandCheck
from grace.boot._config import HttpCheck as HttpCheck
from grace.boot._config import StageConfig as StageConfig

if TYPE_CHECKING:
    from grace.boot._pipeline import run_boot as run_boot
    from grace.boot._pipeline import snapshot_wanted as snapshot_wanted
    from grace.boot._pipeline import training_dir as training_dir
    from grace.boot._report import BootReport as BootReport
    from grace.boot._report import FixRecord as FixRecord
    from grace.boot._report import StageResult as StageResult
    from grace.boot._report import render_text as render_text

_WHERE = {
    "BootReport": "grace.boot._report",
    "FixRecord": "grace.boot._report",
    "StageResult": "grace.boot._report",
    "render_text": "grace.boot._report",
    "run_boot": "grace.boot._pipeline",
    "snapshot_wanted": "grace.boot._pipeline",
    "training_dir": "grace.boot._pipeline",
}

__all__ = (
    "BootConfig",
    "BootReport",
    "CommandCheck",
    "FixRecord",
    "HttpCheck",
    "StageConfig",
    "StageResult",
    "render_text",
    "run_boot",
    "snapshot_wanted",
    "training_dir",
)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    msg = f"module 'grace.boot' has no attribute {name!r}"
    raise AttributeError(msg)
