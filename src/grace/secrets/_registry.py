"""Which backend types exist (built-ins plus ``grace.secrets`` entry points), and the chain."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from grace.errors import ConfigError, PluginError
from grace.secrets._base import Hit, Lookup, Miss, SecretBackend
from grace.secrets.env import EnvBackend
from grace.secrets.file import FileBackend
from grace.secrets.keyring import KeyringBackend
from grace.secrets.vault import VaultBackend

__all__ = ("DEFAULT_BACKENDS", "ENTRY_POINT_GROUP", "backend_types", "lookup", "parse_backends")

ENTRY_POINT_GROUP = "grace.secrets"
"""Plugins register a :class:`SecretBackend` subclass here (``name = "module:Class"``)."""

BUILTIN: dict[str, type[SecretBackend]] = {
    cls.kind: cls for cls in (EnvBackend, FileBackend, KeyringBackend, VaultBackend)
}

DEFAULT_BACKENDS: tuple[Mapping[str, Any], ...] = ({"type": "env"}, {"type": "keyring"})
"""The chain when none is configured: Grace's environment, then the OS keyring."""


def backend_types() -> dict[str, type[SecretBackend]]:
    """type → backend class: the built-ins, then every installed ``grace.secrets`` plugin."""
    types = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            msg = f"secrets backend plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}"
            raise PluginError(msg) from exc
        if not (isinstance(cls, type) and issubclass(cls, SecretBackend) and cls.kind):
            msg = (
                f"secrets backend plugin {ep.name!r} ({ep.value}) is not a SecretBackend "
                "subclass with a 'kind'"
            )
            raise PluginError(msg)
        if cls.kind in types and types[cls.kind] is not cls:
            msg = f"two secrets backends are named {cls.kind!r}: {types[cls.kind]!r} and {cls!r}"
            raise PluginError(msg)
        types[cls.kind] = cls
    return types


def parse_backends(
    raw: Sequence[Mapping[str, Any]] | None, *, where: str = "secrets.backends"
) -> list[SecretBackend]:
    """Validate a list of backend mappings (``None``: :data:`DEFAULT_BACKENDS`).

    Raises:
        ConfigError: naming the item (``secrets.backends[1]``), the field and the fix.
    """
    items = DEFAULT_BACKENDS if raw is None else raw
    types = backend_types()
    out: list[SecretBackend] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            msg = f"{here}: a backend is a mapping with a 'type', not {type(item).__name__}"
            raise ConfigError(msg, hint=f"one of {', '.join(sorted(types))}")
        kind = item.get("type")
        if kind not in types:
            close = difflib.get_close_matches(str(kind), types, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"one of {', '.join(sorted(types))}"
            msg = f"{here}: unknown secrets backend type {kind!r}"
            raise ConfigError(msg, hint=hint)
        try:
            out.append(types[kind].model_validate(dict(item)))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "?"
            msg = f"{here}: secrets backend {kind!r} field '{field}': {err['msg']}"
            raise ConfigError(msg, hint="see docs/secrets.md") from None
    return out


def lookup(backends: Sequence[SecretBackend], key: str) -> Lookup:
    """Ask each backend in order; the first hit wins. Blocks: run it in a worker thread."""
    misses: list[Miss] = []
    for backend in backends:
        try:
            answer = backend.lookup(key)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one miss, not a crash
            answer = Miss(backend.label, f"failed: {type(exc).__name__}")
        if isinstance(answer, Hit):
            return Lookup(key, answer, tuple(misses))
        misses.append(Miss(answer.backend or backend.label, answer.reason))
    return Lookup(key, None, tuple(misses))
