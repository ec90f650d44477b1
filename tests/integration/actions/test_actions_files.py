"""``file.write``, ``file.backup`` and ``file.restore`` on real files, and the backup store."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from grace.actions import ActionContext
from grace.actions.builtin.backups import (
    BackupParams,
    RestoreParams,
    backup_file,
    backup_slot,
    list_backups,
    restore_file,
)
from grace.actions.builtin.files import FileWriteParams, write_file
from grace.errors import ActionError

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _read(path: Path | str) -> str:
    return Path(path).read_text()


def _make(path: Path, text: str, mode: int = 0o640) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_write_creates_a_file_with_the_exact_mode(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A new file gets its content and exactly the requested mode; nothing is backed up."""
    target = tmp_path / "app.conf"
    params = FileWriteParams(path=str(target), content="port = 80\n", mode=0o600)

    result = await write_file(make_ctx(), params)

    assert result.ok
    assert result.outputs == {"path": str(target), "backup_path": None, "bytes": 10}
    assert _read(target) == "port = 80\n"
    assert _mode(target) == 0o600
    assert _names(tmp_path) == ["app.conf"]  # no temp file left behind


async def test_write_backs_up_the_previous_content(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Overwriting saves the old file (content and mode) in the backup store first."""
    target = _make(tmp_path / "app.conf", "old\n", 0o640)
    ctx = make_ctx()

    result = await write_file(ctx, FileWriteParams(path=str(target), content="new\n"))

    backup = Path(result.outputs["backup_path"])
    assert _read(target) == "new\n"
    assert _mode(target) == 0o644
    assert _read(backup) == "old\n"
    assert _mode(backup) == 0o640
    assert list_backups(ctx.data_dir, target) == [backup]
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-1\.bak", backup.name)
    assert backup.parent == ctx.data_dir / "backups" / str(target).lstrip("/").replace("/", "%2F")
    assert _mode(backup.parent) == 0o700
    assert "previous content saved as" in result.summary


async def test_write_without_backup_when_the_step_waives_it(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """backup: false (ctx.backup=False) overwrites without a copy."""
    target = _make(tmp_path / "app.conf", "old\n")
    ctx = make_ctx(backup=False)

    result = await write_file(ctx, FileWriteParams(path=str(target), content="new\n"))

    assert result.outputs["backup_path"] is None
    assert list_backups(ctx.data_dir, target) == []


async def test_write_same_content_changes_nothing(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Writing what is already there is a no-op: changed=False and no backup."""
    target = _make(tmp_path / "app.conf", "same\n", 0o644)
    ctx = make_ctx()

    result = await write_file(ctx, FileWriteParams(path=str(target), content="same\n"))

    assert result.changed is False
    assert list_backups(ctx.data_dir, target) == []


async def test_write_into_missing_directory(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A missing directory is an error with a hint, unless create_dirs is set."""
    target = tmp_path / "a" / "b" / "app.conf"

    expected = f"cannot write {target}: directory {tmp_path}/a/b does not exist"
    with pytest.raises(ActionError, match=re.escape(expected)) as info:
        await write_file(make_ctx(), FileWriteParams(path=str(target), content="x"))
    assert info.value.retryable is False
    assert info.value.hint == "set create_dirs: true to create it"

    await write_file(make_ctx(), FileWriteParams(path=str(target), content="x", create_dirs=True))
    assert _read(target) == "x"


async def test_write_follows_symlinks(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Writing through a symlink replaces the file it points to and keeps the link."""
    real = _make(tmp_path / "real.conf", "old")
    link = tmp_path / "link.conf"
    link.symlink_to(real)

    await write_file(make_ctx(), FileWriteParams(path=str(link), content="new"))

    assert link.is_symlink()
    assert _read(real) == "new"


async def test_write_refuses_a_directory(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A directory is never replaced by a file."""
    with pytest.raises(ActionError, match="is a directory") as info:
        await write_file(make_ctx(), FileWriteParams(path=str(tmp_path), content="x"))

    assert info.value.retryable is False


async def test_backup_keeps_the_newest_copies(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """With backup_keep=3, five backups leave the three newest, newest first."""
    target = tmp_path / "app.conf"
    ctx = make_ctx(backup_keep=3)
    made = []
    for i in range(5):
        _make(target, f"v{i}")
        result = await backup_file(ctx, BackupParams(path=str(target)))
        made.append(Path(result.outputs["backup_path"]))

    kept = list_backups(ctx.data_dir, target)

    assert kept == made[:1:-1]
    assert [_read(p) for p in kept] == ["v4", "v3", "v2"]
    assert [p.name.split("-")[-1] for p in kept] == ["5.bak", "4.bak", "3.bak"]


async def test_backup_of_a_missing_file_is_not_retryable(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """There is nothing to back up: a clear, final error."""
    expected = f"cannot back up {tmp_path}/absent: no such file"
    with pytest.raises(ActionError, match=re.escape(expected)) as info:
        await backup_file(make_ctx(), BackupParams(path=str(tmp_path / "absent")))

    assert info.value.retryable is False


async def test_restore_newest_backup_and_save_the_current_file(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """file.write then file.restore puts the old content (and mode) back, saving the bad one."""
    target = _make(tmp_path / "app.conf", "good", 0o640)
    ctx = make_ctx()
    written = await write_file(ctx, FileWriteParams(path=str(target), content="bad"))

    result = await restore_file(ctx, RestoreParams(path=str(target)))

    assert _read(target) == "good"
    assert _mode(target) == 0o640
    assert result.outputs["restored_from"] == written.outputs["backup_path"]
    pre_restore = Path(result.outputs["backup_path"])
    assert pre_restore.name.endswith("-2.pre-restore.bak")
    assert _read(pre_restore) == "bad"


async def test_restore_twice_is_idempotent(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A second restore restores the same backup (never the pre-restore copy): no change."""
    target = _make(tmp_path / "app.conf", "good")
    ctx = make_ctx()
    await write_file(ctx, FileWriteParams(path=str(target), content="bad"))
    await restore_file(ctx, RestoreParams(path=str(target)))

    again = await restore_file(ctx, RestoreParams(path=str(target)))

    assert again.changed is False
    assert _read(target) == "good"
    assert len(list_backups(ctx.data_dir, target)) == 2


async def test_restore_with_keep_one_does_not_prune_its_source(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """Even with backup_keep=1 the pre-restore copy does not evict the backup being restored."""
    target = _make(tmp_path / "app.conf", "good")
    ctx = make_ctx(backup_keep=1)
    await write_file(ctx, FileWriteParams(path=str(target), content="bad"))

    await restore_file(ctx, RestoreParams(path=str(target)))

    assert _read(target) == "good"
    assert [p.name.endswith("pre-restore.bak") for p in list_backups(ctx.data_dir, target)] == [
        True,
        False,
    ]


async def test_restore_a_named_backup(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """backup: accepts a backup's file name or its full path."""
    target = tmp_path / "app.conf"
    ctx = make_ctx()
    _make(target, "first")
    first = Path((await backup_file(ctx, BackupParams(path=str(target)))).outputs["backup_path"])
    _make(target, "second")
    await backup_file(ctx, BackupParams(path=str(target)))
    _make(target, "third")

    await restore_file(ctx, RestoreParams(path=str(target), backup=first.name))
    assert _read(target) == "first"
    _make(target, "third")
    await restore_file(ctx, RestoreParams(path=str(target), backup=str(first)))
    assert _read(target) == "first"


async def test_restore_a_deleted_file(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A file that was deleted comes back from its backup; nothing to save first."""
    target = _make(tmp_path / "app.conf", "keep me")
    ctx = make_ctx()
    await backup_file(ctx, BackupParams(path=str(target)))
    target.unlink()

    result = await restore_file(ctx, RestoreParams(path=str(target)))

    assert _read(target) == "keep me"
    assert result.outputs["backup_path"] is None


async def test_restore_refuses_a_file_that_is_not_its_backup(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """backup: must name a backup of this very file, never an arbitrary path."""
    target = _make(tmp_path / "app.conf", "x")
    other = _make(tmp_path / "other.bak", "evil")
    ctx = make_ctx()
    await backup_file(ctx, BackupParams(path=str(target)))

    with pytest.raises(ActionError, match=r"'.*/other.bak' is not a backup of .*/app.conf") as info:
        await restore_file(ctx, RestoreParams(path=str(target), backup=str(other)))

    assert info.value.retryable is False
    assert info.value.hint is not None
    assert info.value.hint.startswith("pass a name from list_backups")


async def test_restore_without_backups_is_not_retryable(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """No backup at all: say where we looked."""
    target = _make(tmp_path / "app.conf", "x")

    with pytest.raises(
        ActionError, match=r"no backups of .*/app.conf to restore \(looked in "
    ) as info:
        await restore_file(make_ctx(), RestoreParams(path=str(target)))

    assert info.value.retryable is False


def test_slots_are_distinct_and_bounded(tmp_path: Path) -> None:
    """Paths map to distinct slot names; very long paths are shortened with a hash."""
    long_a = "/srv/" + "d" * 300 + "/a.conf"
    long_b = "/srv/" + "d" * 300 + "/b.conf"

    slots = {
        backup_slot(tmp_path, p).name
        for p in ("/srv/a_b", "/srv/a/b", "/srv/a%2Fb", long_a, long_b)
    }

    assert len(slots) == 5
    assert all(len(s) <= 200 for s in slots)
    assert backup_slot(tmp_path, "/srv/a/b").name == "srv%2Fa%2Fb"


def test_list_backups_of_a_never_backed_up_file_is_empty(tmp_path: Path) -> None:
    """No slot yet means no backups, not an error."""
    assert list_backups(tmp_path / "data", tmp_path / "nothing") == []
