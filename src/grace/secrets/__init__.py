"""Secrets backends: where Grace looks a secret up, in order; the first hit wins.

Built-in backends: ``env`` (Grace's environment), ``file`` (a secrets directory, a JSON or a
dotenv file), ``keyring`` (the OS keyring) and ``vault`` (HashiCorp Vault KV v2 over HTTP).
Plugins add more through the ``grace.secrets`` entry-point group. Values are
:class:`pydantic.SecretStr` from the moment they are read; a :class:`Miss` explains, without
the value, why a backend did not answer. See docs/secrets.md.
"""

from __future__ import annotations

from grace.secrets._base import MAX_SECRET_BYTES, Hit, Lookup, Miss, SecretBackend
from grace.secrets._registry import (
    DEFAULT_BACKENDS,
    ENTRY_POINT_GROUP,
    backend_types,
    lookup,
    parse_backends,
)

__all__ = (
    "DEFAULT_BACKENDS",
    "ENTRY_POINT_GROUP",
    "MAX_SECRET_BYTES",
    "Hit",
    "Lookup",
    "Miss",
    "SecretBackend",
    "backend_types",
    "lookup",
    "parse_backends",
)
