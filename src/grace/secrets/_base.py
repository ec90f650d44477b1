"""What a secrets backend is: a config model that can look one key up, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from grace._docstrings import DOCUMENTED

__all__ = ("MAX_SECRET_BYTES", "Hit", "Lookup", "Miss", "SecretBackend")

MAX_SECRET_BYTES = 64 * 1024
"""A file or answer larger than this is not a secret value (it is refused, never read whole)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A backend had the secret. ``value`` is a :class:`~pydantic.SecretStr`: it prints ``***``."""

    backend: str
    """The backend's label (its ``name``, else its ``type``)."""
    reference: str
    """Where the value came from, safe to log (``env:GITHUB_TOKEN``, ``vault:…#token``)."""
    value: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class Miss:
    """A backend did not have the secret, and why (never holds a secret value)."""

    backend: str
    reason: str

    def __str__(self) -> str:
        return f"{self.backend}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer of a lookup chain: the first hit, and every miss before it."""

    key: str
    hit: Hit | None
    misses: tuple[Miss, ...] = ()

    @property
    def found(self) -> bool:
        return self.hit is not None

    def explain(self) -> str:
        """One line per backend consulted, in order (safe to log: no values)."""
        lines = [f"- {m}" for m in self.misses]
        if self.hit is not None:
            lines.append(f"- {self.hit.backend}: found ({self.hit.reference})")
        return "\n".join(lines) or "- no backend configured"


class SecretBackend(BaseModel):
    """Base of every secrets backend: its configuration *is* the backend.

    A backend is configured under ``config.secrets.backends`` (a list, looked up in order) as a
    mapping with a ``type``. Subclasses set ``kind`` and a ``type: Literal[kind]`` field, and
    implement :meth:`lookup`, which blocks (callers run it in a worker thread). A plugin
    registers its subclass under the ``grace.secrets`` entry-point group.
    """

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    kind: ClassVar[str] = ""
    name: str = Field(default="", max_length=100)
    """A label for outputs and tickets (default: the type); tells two backends of one type apart."""

    @property
    def label(self) -> str:
        return self.name or self.kind

    def lookup(self, key: str) -> Hit | Miss:
        """Look ``key`` up. Never raises for an absent or unreachable secret: that is a Miss."""
        raise NotImplementedError

    def hit(self, reference: str, value: str) -> Hit | Miss:
        """A Hit for ``value``, or a Miss when it is empty once surrounding blanks are removed."""
        value = value.strip()
        if not value:
            return Miss(self.label, f"{reference} is set but empty")
        return Hit(self.label, reference, SecretStr(value))
