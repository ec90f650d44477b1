"""A loaded, validated playbook: the spec plus where each part came from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from grace.playbooks._model import PlaybookSpec, StepSpec

__all__ = ("Playbook",)


@dataclass(frozen=True, slots=True)
class Playbook:
    """What the loader returns and the runner executes."""

    spec: PlaybookSpec
    file: str = "<string>"
    """Where it was loaded from (shown in every error)."""
    lines: dict[str, int] = field(default_factory=dict)
    """Dotted field path (``steps.1.with.url``) → 1-based line in ``file``."""
    bundled: bool = False
    """Shipped with Grace (as opposed to an operator's folder)."""

    @property
    def patterns(self) -> tuple[re.Pattern[str] | None, ...]:
        """Each trigger's compiled ``pattern`` (None when it has none), in trigger order.

        Compiled when asked (``re`` caches them), not held: the matcher compiles its own, and
        a daemon with a thousand playbooks would otherwise keep a second copy of each.
        """
        return tuple(
            None if t.pattern is None else re.compile(t.pattern) for t in self.spec.triggers
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def steps(self) -> list[StepSpec]:
        return self.spec.steps

    def line_of(self, path: str) -> int:
        """The line of ``path`` or of its closest parent that has one (0 when unknown)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return 0

    def where(self, path: str) -> str:
        """``file:line`` for a field path, for run-time error messages."""
        return f"{self.file}:{self.line_of(path)}"

    @property
    def directory(self) -> Path | None:
        return None if self.file.startswith("<") else Path(self.file).parent
