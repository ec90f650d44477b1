"""``env.set``: set one ``KEY=value`` in a dotenv file, keeping every other line as it was.

The value is a secret from the moment it is validated: it never appears in a summary, a plan,
a log line, an output or a recorded parameter (it shows as ``***``). The file is rewritten
atomically with mode ``0600``; the previous version goes to the backup store first (unless
the step says ``backup: false``), so ``file.restore`` can undo the change.

Quoting of the written value: bare when it is made of ``[A-Za-z0-9_./:@%+,=-]``; single
quotes (literal for docker compose, systemd and python-dotenv) when it holds no ``'``,
``\\`` or line break; otherwise double quotes with ``\\\\``, ``\\"``, ``\\n``, ``\\r`` and
``\\t`` escaped. Every existing assignment of the key (``KEY=``, ``export KEY=``) is
updated in place, including multi-line quoted values; a missing key is appended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from pydantic import BeforeValidator, ConfigDict, Field, SecretStr

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import directory_lock, read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, EnvName, FilePath
from grace.actions.builtin.backups import take_backup

__all__ = ("EnvSetParams", "quote_value", "set_env")

ENV_FILE_MODE = 0o600
"""Mode of a file written by ``env.set``: it holds secrets."""

_BARE = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")
_ASSIGN = re.compile(
    r"^(?P<lead>\s*)(?P<export>export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<rest>.*)$",
    re.DOTALL,
)
_DOUBLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_DOUBLE_UNESCAPES = {v[1]: k for k, v in _DOUBLE_ESCAPES.items()} | {"$": "$"}


def _scalar_to_text(value: Any) -> Any:
    # YAML turns `value: 8080` and `value: true` into numbers and booleans; env values are text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Secret = Annotated[SecretStr, BeforeValidator(_scalar_to_text), Field(max_length=100_000)]


def quote_value(value: str) -> str:
    """``value`` written so dotenv readers get it back exactly (see the module docstring)."""
    if _BARE.fullmatch(value):
        return value
    if not any(c in value for c in "'\\\n\r"):
        return f"'{value}'"
    return '"' + "".join(_DOUBLE_ESCAPES.get(c, c) for c in value) + '"'


@dataclass(frozen=True, slots=True)
class _Assignment:
    first: int
    """Index of the line holding ``KEY=``."""
    last: int
    """Index of the line where the value ends (a multi-line quoted value spans several)."""
    value: str
    """The value as a dotenv reader would see it."""


def _closing(text: str, quote: str) -> int:
    """Index of the unescaped closing ``quote`` in ``text`` (after the opening one), or -1."""
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unquote(raw: str) -> str:
    if raw.startswith("'"):
        return raw[1 : _closing(raw, "'")]
    if raw.startswith('"'):
        inner, out, i = raw[1 : _closing(raw, '"')], [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                out.append(_DOUBLE_UNESCAPES.get(inner[i + 1], "\\" + inner[i + 1]))
                i += 2
            else:
                out.append(inner[i])
                i += 1
        return "".join(out)
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _lines(text: str) -> list[str]:
    """Lines ending at newline characters only (``splitlines`` also splits on form feeds)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _assignments(lines: list[str]) -> dict[str, list[_Assignment]]:
    """Every ``KEY=value`` in the file, multi-line quoted values included."""
    found: dict[str, list[_Assignment]] = {}
    i = 0
    while i < len(lines):
        m = _ASSIGN.match(lines[i].rstrip("\r\n"))
        if m is None:
            i += 1
            continue
        rest = m["rest"].lstrip()
        last = i
        if rest[:1] in ("'", '"'):
            text = rest
            while _closing(text, rest[0]) < 0 and last + 1 < len(lines):
                last += 1
                text += "\n" + lines[last].rstrip("\r\n")
            rest = text
        found.setdefault(m["key"], []).append(_Assignment(i, last, _unquote(rest)))
        i = last + 1
    return found


def _updated(text: str, key: str, value: str) -> str:
    """``text`` with every assignment of ``key`` set to ``value`` (appended when absent)."""
    lines = _lines(text)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    line = f"{key}={quote_value(value)}"
    existing = _assignments(lines).get(key, [])
    if not existing:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        return "".join([*lines, line + newline])
    for a in reversed(existing):
        m = _ASSIGN.match(lines[a.first])
        assert m is not None
        ending = newline if lines[a.last].endswith("\n") else ""
        lines[a.first : a.last + 1] = [f"{m['lead']}{m['export'] or ''}{line}{ending}"]
    return "".join(lines)


class EnvSetParams(BuiltinParams):
    """Parameters of ``env.set``."""

    # A rejected value must not be echoed in the validation error either.
    model_config = ConfigDict(hide_input_in_errors=True)

    path: FilePath = ".env"
    """The dotenv file (created with mode 0600 when missing; its directory must exist)."""
    key: EnvName
    """The variable name (``^[A-Za-z_][A-Za-z0-9_]*$``)."""
    value: Secret
    """The value; secret: it shows as ``***`` everywhere Grace reports on the step."""


def _describe(p: EnvSetParams) -> str:
    return f"would set {p.key}=*** in {p.path} (mode 0600; the current file is backed up first)"


@action(
    "env.set",
    params=EnvSetParams,
    risk="medium",
    idempotent=True,
    outputs=("path", "key", "backup_path"),
    describe=_describe,
)
async def set_env(ctx: ActionContext, params: EnvSetParams) -> ActionResult:
    """Set ``KEY=value`` in a dotenv file (atomically, mode 0600), keeping all other lines."""
    path = target_path(params.path)
    value = params.value.get_secret_value()
    now = ctx.clock.now()

    def update() -> tuple[bool, str | None]:
        with directory_lock(path):
            current = read_bytes(path)
            text = current[0].decode("utf-8", errors="surrogateescape") if current else ""
            values = [a.value for a in _assignments(_lines(text)).get(params.key, [])]
            if current is not None and values and all(v == value for v in values):
                if current[1] == ENV_FILE_MODE:
                    return False, None
                path.chmod(ENV_FILE_MODE)
                return True, None
            backup = None
            if current is not None and ctx.backup:
                backup = str(take_backup(ctx.data_dir, path, keep=ctx.backup_keep, now=now))
            data = _updated(text, params.key, value).encode("utf-8", errors="surrogateescape")
            write_atomic(path, data, mode=ENV_FILE_MODE)
            return True, backup

    changed, backup = await anyio.to_thread.run_sync(update)
    outputs = {"path": str(path), "key": params.key, "backup_path": backup}
    if not changed:
        return ActionResult(
            ok=True, summary=f"{params.key} already set in {path}", outputs=outputs, changed=False
        )
    return ActionResult(ok=True, summary=f"set {params.key}=*** in {path}", outputs=outputs)
