"""The ``vault`` backend: HashiCorp Vault's KV version 2 secrets engine over its HTTP API.

It reads ``GET <address>/v1/<mount>/data/<path>`` with the ``X-Vault-Token`` header (and
``X-Vault-Namespace`` for Vault Enterprise namespaces), and takes ``field`` from the secret's
``data.data``. The token comes from ``$VAULT_TOKEN`` (or the variable ``token_env`` names),
else from ``token_file`` (default ``~/.vault-token``, where ``vault login`` puts it): never
from Grace's configuration, which is no place for a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from grace.secrets._base import MAX_SECRET_BYTES, Hit, Miss, SecretBackend
from grace.secrets.file import read_small

__all__ = ("VaultBackend",)


class VaultBackend(SecretBackend):
    """``{type: vault, path: grace/github}``: a KV v2 secret's field (default: the key)."""

    kind: ClassVar[str] = "vault"
    type: Literal["vault"] = "vault"
    address: str | None = Field(default=None, max_length=2000)
    """Vault's URL (``https://vault.example:8200``); default ``$VAULT_ADDR``."""
    mount: str = Field(default="secret", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    """Where the KV v2 engine is mounted."""
    path: str = Field(pattern=r"^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)*$", max_length=1000)
    """The secret's path under the mount (``grace/github``)."""
    field: str | None = Field(default=None, min_length=1, max_length=500)
    """The key inside the secret's data (default: the key looked up)."""
    namespace: str | None = Field(default=None, max_length=500)
    """A Vault Enterprise namespace (default ``$VAULT_NAMESPACE``; none when unset)."""
    token_env: str = Field(default="VAULT_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable of Grace's process holding the Vault token."""
    token_file: Path | None = None
    """Read the token from this file when the variable is unset (default ``~/.vault-token``)."""
    ca_cert: Path | None = None
    """A CA bundle to verify Vault's certificate (default ``$VAULT_CACERT``, else the system's)."""
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Per request."""

    @field_validator("address")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            msg = f"address {value!r} must start with http:// or https://"
            raise ValueError(msg)
        return value

    def _token(self) -> str | Miss:
        token = os.environ.get(self.token_env, "").strip()
        if token:
            return token
        path = (self.token_file or Path("~/.vault-token")).expanduser()
        text = read_small(path)
        if isinstance(text, Miss):
            return Miss(self.label, f"no Vault token: ${self.token_env} is unset and {text.reason}")
        if not text.strip():
            return Miss(
                self.label, f"no Vault token: ${self.token_env} is unset and {path} is empty"
            )
        return text.strip()

    def lookup(self, key: str) -> Hit | Miss:
        import httpx

        address = (self.address or os.environ.get("VAULT_ADDR", "")).rstrip("/")
        if not address:
            return Miss(self.label, "no Vault address: set 'address:' or $VAULT_ADDR")
        token = self._token()
        if isinstance(token, Miss):
            return token
        url = f"{address}/v1/{self.mount}/data/{quote(self.path)}"
        where = url
        headers = {"X-Vault-Token": token, "X-Vault-Request": "true"}
        namespace = self.namespace or os.environ.get("VAULT_NAMESPACE")
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        ca = self.ca_cert or os.environ.get("VAULT_CACERT")
        verify: Any = str(Path(ca).expanduser()) if ca else True
        try:
            with httpx.Client(timeout=self.timeout_s, verify=verify) as client:
                response = client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return Miss(
                self.label, f"Vault is unreachable at {address}: {type(exc).__name__}: {exc}"
            )
        if response.status_code == 403:
            return Miss(
                self.label,
                f"Vault refused the token for {where} (403 permission denied): renew it "
                f"(vault login) or grant its policy 'read' on {self.mount}/data/{self.path}",
            )
        if response.status_code == 404:
            return Miss(self.label, f"Vault has no secret at {where} (404)")
        if response.status_code != 200:
            errors = _errors(response)
            return Miss(self.label, f"Vault answered {response.status_code} for {where}{errors}")
        if len(response.content) > MAX_SECRET_BYTES:
            return Miss(self.label, f"Vault's answer for {where} is too large to be a secret")
        try:
            data = response.json()["data"]["data"]
        except (ValueError, KeyError, TypeError):
            return Miss(
                self.label,
                f"{where} is not a KV version 2 secret (no data.data in the answer; is "
                f"{self.mount!r} a KV v2 mount?)",
            )
        entry = self.field or key
        if not isinstance(data, dict) or entry not in data:
            return Miss(self.label, f"the secret at {where} has no {entry!r} field")
        value = data[entry]
        if not isinstance(value, str):
            return Miss(self.label, f"field {entry!r} at {where} is not a string")
        return self.hit(f"vault:{address}/v1/{self.mount}/data/{self.path}#{entry}", value)


def _errors(response: Any) -> str:
    """Vault's ``errors`` list, which names the problem and never echoes a secret."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    shown = "; ".join(str(e)[:200] for e in errors[:3])
    return f": {shown}" if shown else ""
