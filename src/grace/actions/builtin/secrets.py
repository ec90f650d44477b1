"""``secret.lookup`` and ``secret.provision``: a secret from the secrets backends, never shown.

Both ask the configured backends in order (docs/secrets.md): the first hit wins, and every
miss says why. ``secret.provision`` then falls back to the dotenv file itself, then (when
``prompt`` is on and Grace runs in a terminal) asks the operator with a hidden prompt, and
writes the value into the dotenv file through ``env.set`` (atomically, mode 0600, the old file
backed up first). The value never leaves the action: it is not a parameter, not an output,
not in a summary, a log line or an error — outputs name the backend and a reference
(``vault:…#token``) instead.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

import anyio
import anyio.to_thread
from pydantic import Field, SecretStr, field_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import target_path
from grace.actions.builtin._params import BuiltinParams, EnvName, FilePath, Seconds
from grace.actions.builtin.dotenv import EnvSetParams, set_env
from grace.errors import ActionError, ConfigError
from grace.secrets import Hit, Miss, SecretBackend, lookup, parse_backends
from grace.secrets.file import dotenv_values, read_small

__all__ = (
    "SecretLookupParams",
    "SecretProvisionParams",
    "provision_secret",
    "secret_lookup",
)

Backends = list[dict[str, Any]] | None


def _check_backends(value: Backends) -> Backends:
    try:
        parse_backends(value, where="backends")
    except ConfigError as exc:
        msg = f"{exc}" + (f" ({exc.hint})" if exc.hint else "")
        raise ValueError(msg) from None
    return value


class SecretLookupParams(BuiltinParams):
    """Parameters of ``secret.lookup``."""

    key: EnvName
    """The secret's name (``GITHUB_TOKEN``): what each backend is asked for."""
    backends: Backends = Field(default=None, max_length=20)
    """The chain, in order (docs/secrets.md); default ``[{type: env}, {type: keyring}]``."""
    required: bool = False
    """Fail the step when no backend has the secret (default: report ``found: false``)."""

    _backends = field_validator("backends")(_check_backends)


class SecretProvisionParams(BuiltinParams):
    """Parameters of ``secret.provision``."""

    key: EnvName
    """The secret's name, looked up in the backends and written as ``KEY=…``."""
    env_file: FilePath = ".env"
    """The service's dotenv file to write (created with mode 0600; its directory must exist)."""
    backends: Backends = Field(default=None, max_length=20)
    """The chain, in order (docs/secrets.md); default ``[{type: env}, {type: keyring}]``."""
    fallback_env_file: bool = True
    """When no backend has it, accept a non-empty value already in ``env_file`` (no write)."""
    prompt: bool = False
    """When nothing has it, ask the operator with a hidden prompt — only if stdin is a terminal."""
    prompt_timeout_s: Seconds = Field(default=300.0, gt=0, le=3600)
    """How long the prompt waits for an answer."""
    hint: str = Field(default="", max_length=500)
    """What else the operator can do when nothing has the secret (added to the error)."""

    _backends = field_validator("backends")(_check_backends)


def _chain(raw: Backends) -> list[SecretBackend]:
    return parse_backends(raw, where="backends")


def _outputs(misses: list[Miss], hit: Hit | None) -> dict[str, Any]:
    return {
        "found": hit is not None,
        "backend": hit.backend if hit else None,
        "reference": hit.reference if hit else None,
        "misses": [str(m) for m in misses],
    }


def _describe_lookup(p: SecretLookupParams) -> str:
    kinds = ", ".join(b.label for b in _chain(p.backends)) or "no backend"
    return f"would look {p.key} up in: {kinds} (the value is never shown)"


@action(
    "secret.lookup",
    params=SecretLookupParams,
    risk="low",
    idempotent=True,
    outputs=("found", "backend", "reference", "misses"),
    describe=_describe_lookup,
)
async def secret_lookup(ctx: ActionContext, params: SecretLookupParams) -> ActionResult:
    """Say whether a secret is in the backends, and which one (never its value)."""
    del ctx
    chain = _chain(params.backends)
    result = await anyio.to_thread.run_sync(lambda: lookup(chain, params.key))
    outputs = _outputs(list(result.misses), result.hit)
    if result.hit is None:
        if params.required:
            msg = f"{params.key} is in no secrets backend:\n{result.explain()}"
            raise ActionError(msg, retryable=False, type="SecretNotFound", outputs=outputs)
        return ActionResult(
            ok=True, summary=f"{params.key}: not found", outputs=outputs, changed=False
        )
    summary = f"{params.key}: found in {result.hit.backend} ({result.hit.reference})"
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)


def _from_env_file(path_text: str, key: str) -> Hit | Miss:
    path = target_path(path_text)
    text = read_small(path, limit=10 * 1024 * 1024)
    if isinstance(text, Miss):
        return Miss("env_file", text.reason)
    value = dotenv_values(text).get(key)
    if value is None:
        return Miss("env_file", f"{path} has no {key}= line")
    if not value.strip():
        return Miss("env_file", f"{path} sets {key} empty")
    return Hit("env_file", f"dotenv:{path}#{key}", SecretStr(value))


def _interactive() -> bool:
    """A person at a terminal can answer: stdin is a TTY and we are its foreground process."""
    try:
        fd = sys.stdin.fileno()
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except (AttributeError, ValueError, OSError):
        return False


async def _prompt(key: str, misses: list[Miss], timeout_s: float) -> Hit | Miss:
    if not _interactive():
        return Miss("prompt", "not asked: Grace's stdin is not a terminal (a daemon run)")
    text = (
        f"\n{key} is in none of the secrets backends:\n"
        + "\n".join(f"  - {m}" for m in misses)
        + f"\nPaste {key} (input is hidden; empty to skip): "
    )
    answer: str | None = None
    with anyio.move_on_after(timeout_s):
        answer = await anyio.to_thread.run_sync(
            lambda: getpass.getpass(text), abandon_on_cancel=True
        )
    if answer is None:
        return Miss("prompt", f"no answer within {timeout_s:g}s")
    if not answer.strip():
        return Miss("prompt", "the operator gave no value")
    return Hit("prompt", "prompt:operator", SecretStr(answer.strip()))


def _describe_provision(p: SecretProvisionParams) -> str:
    kinds = ", ".join(b.label for b in _chain(p.backends)) or "no backend"
    then = f", then {p.env_file}" if p.fallback_env_file else ""
    ask = ", then the operator (terminal only)" if p.prompt else ""
    return (
        f"would look {p.key} up in: {kinds}{then}{ask}; and set {p.key}=*** in {p.env_file} "
        "(mode 0600, backed up first)"
    )


@action(
    "secret.provision",
    params=SecretProvisionParams,
    risk="medium",
    idempotent=True,
    outputs=("found", "backend", "reference", "misses", "changed", "path", "backup_path"),
    describe=_describe_provision,
)
async def provision_secret(ctx: ActionContext, params: SecretProvisionParams) -> ActionResult:
    """Look a secret up and write it into a dotenv file (0600, atomic, backed up)."""
    chain = _chain(params.backends)
    result = await anyio.to_thread.run_sync(lambda: lookup(chain, params.key))
    misses = list(result.misses)
    hit = result.hit
    if hit is None and params.fallback_env_file:
        answer = await anyio.to_thread.run_sync(lambda: _from_env_file(params.env_file, params.key))
        hit, misses = (answer, misses) if isinstance(answer, Hit) else (None, [*misses, answer])
    if hit is None and params.prompt:
        answer = await _prompt(params.key, misses, params.prompt_timeout_s)
        hit, misses = (answer, misses) if isinstance(answer, Hit) else (None, [*misses, answer])
    outputs = _outputs(misses, hit)
    path = str(target_path(params.env_file))
    outputs |= {"changed": False, "path": path, "backup_path": None}
    if hit is None:
        explained = "\n".join(f"- {m}" for m in misses)
        msg = (
            f"{params.key} is in no secrets backend, so {path} was left as it was:\n{explained}\n"
            f"Add it to one of them (docs/secrets.md){'; ' + params.hint if params.hint else ''}"
        )
        raise ActionError(msg, retryable=False, type="SecretNotFound", outputs=outputs)
    if hit.backend == "env_file":
        summary = f"{params.key} is already set in {path}; nothing written"
        return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)
    written = await set_env(
        ctx, EnvSetParams(path=params.env_file, key=params.key, value=hit.value)
    )
    outputs |= {"changed": written.changed, "backup_path": written.outputs.get("backup_path")}
    verb = "set" if written.changed else "already had"
    summary = f"{verb} {params.key}=*** in {path} from {hit.backend} ({hit.reference})"
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=written.changed)
