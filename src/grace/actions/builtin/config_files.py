"""``config.get`` and ``config.set``: read or change one key of a service's config file.

The key is a dotted path (``search.provider``) into a JSON or YAML file (TOML too, read only:
``config.get``). ``config.set`` changes exactly that key and keeps everything else: YAML keeps
its comments, key order and quoting (ruamel.yaml's round trip), JSON its key order. It backs
the file up first (unless the step says ``backup: false``), writes atomically keeping the file's
mode, and holds a directory lock so two runs editing the same file never lose a change.

It never overwrites a file it cannot parse: a broken file is the operator's to fix, and an
error names it. Two ways to choose the new value besides ``value``:

* ``next_in``: a fallback chain (``[google, bing, duckduckgo, mock]``); the new value is the
  entry after the current one, read under the same lock (so two runs advance it once each,
  never both from the same value).
* ``expect``: compare-and-set; the file changes only when the key currently holds this value.
  Otherwise the step succeeds with ``changed: false`` and ``matched: false`` (someone, or an
  earlier run, already moved it on).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from pydantic import Field, model_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import directory_lock, read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.actions.builtin.backups import backup_before_change
from grace.errors import ActionError

__all__ = ("ConfigGetParams", "ConfigSetParams", "get_config_value", "set_config_value")

Format = Literal["auto", "json", "yaml", "toml"]
_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
MAX_DEPTH = 16
"""Most segments a dotted key may have."""
MAX_FILE_BYTES = 4 * 1024 * 1024
"""Config files larger than this are refused (a config file, not a data dump)."""
_MISSING = object()


def _check_key(value: str) -> str:
    parts = value.split(".")
    if len(parts) > MAX_DEPTH:
        msg = f"key {value!r} has {len(parts)} segments; at most {MAX_DEPTH}"
        raise ValueError(msg)
    for part in parts:
        if not _SEGMENT.fullmatch(part):
            msg = (
                f"key {value!r}: segment {part!r} must be letters, digits, '_' or '-' "
                "(write nested keys as a dotted path, like 'search.provider')"
            )
            raise ValueError(msg)
    return value


class ConfigGetParams(BuiltinParams):
    """Parameters of ``config.get``."""

    file: FilePath
    """The config file (JSON, YAML or TOML)."""
    key: str = Field(min_length=1, max_length=500)
    """Dotted path of the key, like ``search.provider``."""
    format: Format = "auto"
    """The file's format; ``auto`` goes by its suffix (.json, .yaml/.yml, .toml)."""
    default: Any = None
    """The value reported when the key is missing (``exists: false``)."""

    @model_validator(mode="after")
    def _key(self) -> ConfigGetParams:
        _check_key(self.key)
        return self


class ConfigSetParams(BuiltinParams):
    """Parameters of ``config.set``."""

    file: FilePath
    """The config file (JSON or YAML; it must exist and parse)."""
    key: str = Field(min_length=1, max_length=500)
    """Dotted path of the key, like ``search.provider``; missing parent mappings are created."""
    value: Any = None
    """The new value (a scalar, list or mapping). Give ``value`` or ``next_in``, not both."""
    next_in: list[str] | None = Field(default=None, min_length=2, max_length=20)
    """A fallback chain: the new value is the entry after the current one."""
    expect: Any = None
    """Change only when the key currently holds this value (compare-and-set); None: always."""
    format: Format = "auto"
    """The file's format; ``auto`` goes by its suffix (.json, .yaml/.yml)."""

    @model_validator(mode="after")
    def _one_source(self) -> ConfigSetParams:
        _check_key(self.key)
        if (self.value is None) == (self.next_in is None):
            msg = "give exactly one of 'value' (the new value) or 'next_in' (a fallback chain)"
            raise ValueError(msg)
        if self.next_in is not None and len(set(self.next_in)) != len(self.next_in):
            msg = f"next_in {self.next_in!r} names an entry twice; a chain visits each once"
            raise ValueError(msg)
        return self


def _format_of(path: Path, wanted: Format) -> str:
    if wanted != "auto":
        return wanted
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        msg = f"cannot tell the format of {path} from its suffix; set format: json, yaml or toml"
        raise ActionError(msg, retryable=False, type="UnknownFormat")
    return fmt


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines the file had
    return yaml


def _parse(path: Path, data: bytes, fmt: str) -> Any:
    if len(data) > MAX_FILE_BYTES:
        msg = f"{path} is {len(data)} bytes; config.* works on files up to {MAX_FILE_BYTES}"
        raise ActionError(msg, retryable=False, type="FileTooLarge")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{path} is not UTF-8 ({exc}); config.* refuses to touch it"
        raise ActionError(msg, retryable=False, type="BadConfigFile") from exc
    try:
        if fmt == "json":
            doc = json.loads(text)
        elif fmt == "toml":
            import tomllib

            doc = tomllib.loads(text)
        else:
            from ruamel.yaml.error import YAMLError

            try:
                doc = _yaml().load(text)
            except YAMLError as exc:
                raise ValueError(str(exc).replace("\n", " ")) from exc
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        msg = f"{path} is not valid {fmt.upper()} ({exc}); fix it by hand, Grace will not overwrite it"
        raise ActionError(msg, retryable=False, type="BadConfigFile") from exc
    if doc is None and fmt == "yaml":
        doc = _yaml().load("{}")
    if not isinstance(doc, dict):
        msg = f"{path} must hold a mapping at the top, not {type(doc).__name__}"
        raise ActionError(msg, retryable=False, type="BadConfigFile")
    return doc


def _lookup(doc: Any, key: str) -> Any:
    node = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _plain(value: Any) -> Any:
    """ruamel's round-trip types as plain JSON-ready values (outputs must be plain data)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)


def _read(path: Path, fmt: str) -> tuple[Any, int]:
    current = read_bytes(path)
    if current is None:
        msg = f"config file {path} does not exist"
        raise ActionError(msg, retryable=False, type="FileNotFound")
    return _parse(path, current[0], fmt), current[1]


@action(
    "config.get",
    params=ConfigGetParams,
    risk="low",
    idempotent=True,
    outputs=("file", "key", "value", "exists"),
    describe=lambda p: f"would read {p.key!r} from {p.file}",
)
async def get_config_value(ctx: ActionContext, params: ConfigGetParams) -> ActionResult:
    """Read one key (a dotted path) of a JSON, YAML or TOML config file."""
    path = target_path(params.file)
    fmt = _format_of(path, params.format)
    doc, _ = await anyio.to_thread.run_sync(_read, path, fmt)
    found = _lookup(doc, params.key)
    exists = found is not _MISSING
    value = _plain(found) if exists else params.default
    outputs = {"file": str(path), "key": params.key, "value": value, "exists": exists}
    shown = json.dumps(value, default=str)[:200] if exists else "missing"
    return ActionResult(
        ok=True, summary=f"{params.key} in {path}: {shown}", outputs=outputs, changed=False
    )


def _describe_set(p: ConfigSetParams) -> str:
    new = f"the entry after the current one in {p.next_in}" if p.next_in else repr(p.value)
    cas = f" if it is {p.expect!r}" if p.expect is not None else ""
    return f"would set {p.key!r} in {p.file} to {new}{cas} (backup first)"


def _dump(doc: Any, fmt: str, original: bytes) -> bytes:
    if fmt == "json":
        indent: int | None = 2
        text = original.decode("utf-8-sig")
        m = re.search(r"\n([ \t]+)\S", text)
        if m is not None:
            indent = len(m.group(1).expandtabs(4))
        elif "\n" not in text.strip():
            indent = None  # a one-line file stays on one line
        return (json.dumps(doc, indent=indent, ensure_ascii=False) + "\n").encode()
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue().encode()


def _assign(doc: Any, key: str, value: Any, path: Path) -> None:
    parts = key.split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.get(part, _MISSING)
        if child is _MISSING:
            child = {}
            node[part] = child
            child = node[part]
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            msg = (
                f"{path}: {where!r} is a {type(child).__name__}, not a mapping; cannot set {key!r}"
            )
            raise ActionError(msg, retryable=False, type="BadConfigKey")
        node = child
    node[parts[-1]] = value


@action(
    "config.set",
    params=ConfigSetParams,
    risk="medium",
    idempotent=True,
    destructive=True,
    outputs=("file", "key", "value", "previous", "changed", "matched", "backup_path"),
    describe=_describe_set,
)
async def set_config_value(ctx: ActionContext, params: ConfigSetParams) -> ActionResult:
    """Set one key (a dotted path) of a JSON or YAML config file, keeping the rest as it was."""
    path = target_path(params.file)
    fmt = _format_of(path, params.format)
    if fmt == "toml":
        msg = (
            f"config.set does not write TOML ({path}): no comment-keeping TOML writer is installed"
        )
        raise ActionError(msg, retryable=False, type="UnsupportedFormat")

    def plan() -> tuple[Any, Any, bool]:
        """(previous, new, matched) from the file as it is now."""
        doc, _ = _read(path, fmt)
        found = _lookup(doc, params.key)
        previous = None if found is _MISSING else _plain(found)
        if params.expect is not None and previous != params.expect:
            return previous, previous, False
        if params.next_in is None:
            return previous, params.value, True
        chain = params.next_in
        if previous not in chain:
            msg = f"{params.key} in {path} is {previous!r}, which is not in the chain {chain}"
            err = ActionError(msg, retryable=False, type="NotInChain")
            err.hint = "add the current value to next_in, or fix the file by hand"
            raise err
        at = chain.index(previous)
        if at + 1 >= len(chain):
            msg = f"{params.key} in {path} is {previous!r}, the last entry of {chain}: no fallback left"
            raise ActionError(msg, retryable=False, type="ChainExhausted")
        return previous, chain[at + 1], True

    def write() -> tuple[Any, Any, bool, bool]:
        with directory_lock(path):
            previous, new, matched = plan()
            if not matched or previous == new:
                return previous, new, matched, False
            current = read_bytes(path)
            assert current is not None  # plan() read it under the same lock
            doc = _parse(path, current[0], fmt)
            _assign(doc, params.key, new, path)
            data = _dump(doc, fmt, current[0])
            _parse(path, data, fmt)  # never write what we could not read back
            write_atomic(path, data, mode=current[1])
            return previous, new, matched, True

    # The backup is taken before the locked write; a concurrent change between the two is
    # still in a later backup (every change by config.set takes one).
    previous, new, matched = await anyio.to_thread.run_sync(_locked_plan, path, plan)
    backup = None
    if matched and previous != new:
        backup = await backup_before_change(ctx, path)
    previous, new, matched, changed = await anyio.to_thread.run_sync(write)
    outputs = {
        "file": str(path),
        "key": params.key,
        "value": new,
        "previous": previous,
        "changed": changed,
        "matched": matched,
        "backup_path": str(backup) if backup else None,
    }
    if not matched:
        summary = f"{params.key} in {path} is {previous!r}, not {params.expect!r}: left alone"
    elif changed:
        summary = f"set {params.key} in {path}: {previous!r} → {new!r}"
    else:
        summary = f"{params.key} in {path} is already {new!r}"
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=changed)


def _locked_plan(path: Path, plan: Any) -> tuple[Any, Any, bool]:
    with directory_lock(path):
        result: tuple[Any, Any, bool] = plan()
        return result
