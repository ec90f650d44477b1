"""``file.write``: replace a file's content atomically, backing up what was there."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from pydantic import Field, field_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import read_bytes, target_path, write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath
from grace.actions.builtin.backups import backup_before_change
from grace.errors import ActionError

__all__ = ("FileWriteParams", "parse_mode", "write_file")


def parse_mode(value: Any) -> Any:
    """Read a permission mode: an int as is, a string as octal (``'0644'``, ``'0o644'``)."""
    if isinstance(value, bool):
        msg = "mode must be an octal number like 0o644, not a boolean"
        raise ValueError(msg)  # noqa: TRY004 - pydantic reports ValueError with the field name
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            return int(text, 8)
        except ValueError:
            msg = f"mode {value!r} is not an octal number; write it like '0644' or 0o644"
            raise ValueError(msg) from None
    return value


class FileWriteParams(BuiltinParams):
    """Parameters of ``file.write``."""

    path: FilePath
    """The file to (over)write; symlinks are followed."""
    content: str = Field(max_length=50_000_000)
    """The complete new content, written as UTF-8."""
    mode: int = 0o644
    """Permission bits of the new file, 0 to 0o777 (``'0644'`` as a string is read as octal)."""
    create_dirs: bool = False
    """Create missing parent directories (otherwise a missing directory is an error)."""

    _parse_mode = field_validator("mode", mode="before")(parse_mode)

    @field_validator("mode")
    @classmethod
    def _mode_bounds(cls, value: int) -> int:
        if not 0 <= value <= 0o777:
            msg = (
                f"mode {value} is not between 0 and 0o777 (511); YAML reads 0644 as the decimal "
                "644, so write 0o644 or quote it as '0644'"
            )
            raise ValueError(msg)
        return value


def _describe(p: FileWriteParams) -> str:
    size = len(p.content.encode())
    dirs = ", creating missing directories" if p.create_dirs else ""
    return (
        f"would write {size} bytes to {p.path} atomically (mode {p.mode:#o}{dirs}); "
        "an existing file is backed up first"
    )


@action(
    "file.write",
    params=FileWriteParams,
    risk="medium",
    idempotent=True,
    destructive=True,
    outputs=("path", "backup_path", "bytes"),
    describe=_describe,
)
async def write_file(ctx: ActionContext, params: FileWriteParams) -> ActionResult:
    """Write a file atomically (temp file, fsync, rename), backing up the current one first."""
    path = target_path(params.path)
    data = params.content.encode()
    outputs: dict[str, Any] = {"path": str(path), "backup_path": None, "bytes": len(data)}
    current = await anyio.to_thread.run_sync(read_bytes, path)
    if current == (data, params.mode):
        return ActionResult(
            ok=True, summary=f"{path} already has this content", outputs=outputs, changed=False
        )
    backup = await backup_before_change(ctx, path)
    outputs["backup_path"] = str(backup) if backup else None

    def write() -> None:
        if params.create_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            msg = f"cannot write {path}: directory {path.parent} does not exist"
            err = ActionError(msg, retryable=False, type="DirectoryMissing")
            err.hint = "set create_dirs: true to create it"
            raise err
        write_atomic(path, data, mode=params.mode)

    await anyio.to_thread.run_sync(write)
    saved = f" (previous content saved as {backup.name})" if backup else ""
    return ActionResult(
        ok=True, summary=f"wrote {len(data)} bytes to {path}{saved}", outputs=outputs
    )
