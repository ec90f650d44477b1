"""The ``env`` backend: a variable of Grace's own environment."""

from __future__ import annotations

import os
import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from grace.secrets._base import Hit, Miss, SecretBackend

__all__ = ("EnvBackend",)


class EnvBackend(SecretBackend):
    """``{type: env, variable: "GRACE_SECRET_{key}"}``: Grace's environment (default ``$KEY``)."""

    kind: ClassVar[str] = "env"
    type: Literal["env"] = "env"
    variable: str = Field(default="{key}", max_length=200)
    """The variable to read; ``{key}`` stands for the key looked up (``GRACE_{key}``)."""

    @field_validator("variable")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value.replace("{key}", "KEY")):
            msg = (
                f"variable {value!r} is not an environment variable name (letters, digits, '_', "
                "and '{key}' for the key looked up, like 'GRACE_{key}')"
            )
            raise ValueError(msg)
        return value

    def lookup(self, key: str) -> Hit | Miss:
        variable = self.variable.replace("{key}", key)
        value = os.environ.get(variable)
        if value is None:
            return Miss(self.label, f"${variable} is not set in Grace's environment")
        return self.hit(f"env:{variable}", value)
