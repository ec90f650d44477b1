"""The ``keyring`` backend: the OS keyring through the ``keyring`` library.

``keyring`` picks the keyring it talks to (Secret Service, KWallet, macOS Keychain, Windows
Credential Locker, or a backend named by ``PYTHON_KEYRING_BACKEND`` or keyringrc.cfg);
``backend:`` names one explicitly. On a headless server without a keyring daemon,
``keyrings.alt``'s file-backed keyrings work. Install with ``pip install 'grace[keyring]'``.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Literal

from pydantic import Field

from grace.secrets._base import Hit, Miss, SecretBackend

__all__ = ("KeyringBackend",)


def _load(dotted: str) -> Any:
    module, _, cls = dotted.rpartition(".")
    if not module:
        msg = f"keyring backend {dotted!r} is not a dotted class path"
        raise ValueError(msg)
    return getattr(importlib.import_module(module), cls)()


class KeyringBackend(SecretBackend):
    """``{type: keyring, service: grace}``: ``keyring.get_password(service, username)``."""

    kind: ClassVar[str] = "keyring"
    type: Literal["keyring"] = "keyring"
    service: str = Field(default="grace", min_length=1, max_length=200)
    """The keyring's service name the secret is stored under."""
    username: str | None = Field(default=None, min_length=1, max_length=200)
    """The keyring's user name (default: the key, e.g. ``GITHUB_TOKEN``)."""
    backend: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*$", max_length=300)
    """A keyring backend class (``keyrings.alt.file.PlaintextKeyring``); default: keyring's choice."""

    def lookup(self, key: str) -> Hit | Miss:
        try:
            import keyring
            import keyring.errors
        except ImportError:
            return Miss(
                self.label,
                "the keyring library is not installed (pip install 'grace[keyring]')",
            )
        username = self.username or key
        try:
            ring = _load(self.backend) if self.backend else keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - any import or construction failure is a miss
            return Miss(self.label, f"keyring backend {self.backend!r} cannot be loaded: {exc!r}")
        kind = f"{type(ring).__module__}.{type(ring).__name__}"
        if kind == "keyring.backends.fail.Keyring":
            return Miss(
                self.label,
                "no OS keyring is available here (keyring found no backend; set "
                "PYTHON_KEYRING_BACKEND or 'backend:', e.g. keyrings.alt.file.PlaintextKeyring)",
            )
        try:
            value = ring.get_password(self.service, username)
        except keyring.errors.KeyringError as exc:
            return Miss(self.label, f"{kind} failed: {type(exc).__name__}: {exc}")
        reference = f"keyring:{self.service}/{username}"
        if value is None:
            return Miss(self.label, f"{kind} has no password for {self.service}/{username}")
        return self.hit(reference, value)
