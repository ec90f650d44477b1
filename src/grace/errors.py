"""Grace's exceptions: one tree, rooted at :class:`GraceError`.

```text
GraceError
├── ConfigError              # bad settings / grace.yaml; names the key and the bad value
├── PlaybookError            # load/validate; carries every Problem (file:line:col, field, hint)
├── ActionError              # raised by actions; carries retryable, next_retry_delay, type
│   └── ActionTimeout
├── TemplateError            # a template/condition failed at run time (recorded on the run)
├── RunError                 # an operation on a run that its state does not allow
│   ├── FenceLost            # the run was claimed by someone else: stop before any side effect
│   ├── Halted               # the emergency stop is in force: nothing new starts
│   └── DuplicateIncident    # an active run already handles this incident (dedupe key)
├── StoreError               # the database refused or is unreachable
├── AuditError               # the audit chain or a checkpoint does not verify
└── PluginError              # a broken third-party plugin (import or declaration)
```

Context lives in typed attributes, not only in the message, and every message says what was
wrong, where, and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = (
    "ActionError",
    "ActionTimeout",
    "AuditError",
    "ConfigError",
    "DuplicateIncident",
    "FenceLost",
    "GraceError",
    "Halted",
    "PlaybookError",
    "PluginError",
    "Problem",
    "RunError",
    "StoreError",
    "TemplateError",
)


class GraceError(Exception):
    """Root of every error Grace raises on purpose."""

    exit_code: int = 1
    """The CLI exits with this code when the error reaches it."""

    hint: str | None = None
    """One line telling the user how to fix it, shown under the message."""


class ConfigError(GraceError):
    """Settings or ``grace.yaml`` are invalid."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault found in a playbook file."""

    file: str
    """Path of the file, as given."""
    line: int
    """1-based line; 0 when the fault concerns the whole file."""
    column: int
    """1-based column; 0 when unknown."""
    message: str
    """What is wrong, naming the field and what was expected."""
    hint: str | None = None
    """How to fix it (e.g. "did you mean 'service.restart'?")."""
    field: str = ""
    """Dotted path of the offending field (``steps.1.with.url``)."""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class PlaybookError(GraceError):
    """A playbook failed to load. ``problems`` lists every fault found, not only the first."""

    exit_code = 1

    def __init__(
        self, problems: list[Problem] | Problem | str, *, file: str = "<playbook>"
    ) -> None:
        if isinstance(problems, str):
            problems = [Problem(file=file, line=0, column=0, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class ActionError(GraceError):
    """Raised by an action when its side effect failed.

    Retry decisions are data, not ``except`` ladders: ``retryable=False`` stops the step's
    retries at once; ``type`` is matched against a retry policy's ``non_retryable`` set.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        type: str | None = None,
        next_retry_delay: float | None = None,
        outputs: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.type = type or type_name(self)
        self.next_retry_delay = next_retry_delay
        self.outputs = outputs or {}


def type_name(exc: BaseException) -> str:
    return exc.__class__.__name__


class ActionTimeout(ActionError):
    """A step did not finish within its ``timeout_s``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, type="ActionTimeout")


class TemplateError(GraceError):
    """A template or condition could not be rendered at run time."""


class RunError(GraceError):
    """An operation on a run that its current state does not allow."""


class FenceLost(RunError):
    """The run's fence moved or its lease expired: another worker owns it now."""


class Halted(RunError):
    """The emergency stop is in force: no run is claimed and no main step starts."""


class DuplicateIncident(RunError):
    """An active run already handles this incident (one open run per dedupe key)."""

    def __init__(self, dedupe_key: str, run_id: str | None) -> None:
        super().__init__(f"run {run_id or '?'} is already open for incident {dedupe_key}")
        self.dedupe_key = dedupe_key
        self.run_id = run_id


class StoreError(GraceError):
    """The database refused an operation or could not be reached."""

    exit_code = 3


class AuditError(GraceError):
    """The audit chain or one of its signed checkpoints does not verify."""

    exit_code = 4


class PluginError(GraceError):
    """A third-party plugin failed to import or declared itself wrongly."""
