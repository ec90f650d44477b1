"""``env.set`` and ``flag.set`` on real files."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from grace.actions import ActionContext, default_registry
from grace.actions.builtin.backups import list_backups
from grace.actions.builtin.dotenv import EnvSetParams, set_env
from grace.actions.builtin.flags import FlagSetParams, set_flag
from grace.errors import ActionError

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]

SECRET = "hunter2 s3cr3t"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


async def test_env_set_creates_the_file_with_mode_0600(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A missing dotenv file is created holding only the key, readable by its owner only."""
    env = tmp_path / ".env"

    result = await set_env(make_ctx(), EnvSetParams(path=str(env), key="PORT", value=8080))

    assert _read(env) == "PORT=8080\n"
    assert _mode(env) == 0o600
    assert result.outputs == {"path": str(env), "key": "PORT", "backup_path": None}


async def test_env_set_updates_in_place_and_keeps_everything_else(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """Comments, blank lines, other keys and an export prefix survive; duplicates all change."""
    env = _write(
        tmp_path / ".env",
        "# database\nDB_URL=postgres://db/x\n\nexport TOKEN='old'\nOTHER=1\nTOKEN=older # dup\n",
    )
    ctx = make_ctx()

    result = await set_env(ctx, EnvSetParams(path=str(env), key="TOKEN", value=SECRET))

    assert _read(env) == (
        "# database\nDB_URL=postgres://db/x\n\n"
        f"export TOKEN='{SECRET}'\nOTHER=1\nTOKEN='{SECRET}'\n"
    )
    assert _mode(env) == 0o600
    backup = Path(result.outputs["backup_path"])
    assert list_backups(ctx.data_dir, env) == [backup]
    assert "TOKEN='old'" in _read(backup)


async def test_env_set_replaces_a_multiline_value_whole(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A multi-line quoted value is replaced entirely, not just its first line."""
    env = _write(tmp_path / ".env", 'A=1\nKEY="line one\nline two"\nB=2\n')

    await set_env(make_ctx(), EnvSetParams(path=str(env), key="KEY", value="x"))

    assert _read(env) == "A=1\nKEY=x\nB=2\n"


async def test_env_set_appends_after_a_last_line_without_newline(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """A missing key is appended on its own line, keeping CRLF line endings."""
    env = _write(tmp_path / ".env", "A=1\r\nB=2")

    await set_env(make_ctx(), EnvSetParams(path=str(env), key="C", value="it's"))

    assert env.read_bytes() == b'A=1\r\nB=2\r\nC="it\'s"\r\n'


async def test_env_set_twice_is_a_no_op(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Setting the value already there changes nothing and takes no backup."""
    env = tmp_path / ".env"
    ctx = make_ctx()
    await set_env(ctx, EnvSetParams(path=str(env), key="K", value="v v"))

    again = await set_env(ctx, EnvSetParams(path=str(env), key="K", value="v v"))

    assert again.changed is False
    assert again.summary == f"K already set in {env}"
    assert list_backups(ctx.data_dir, env) == []


async def test_env_set_fixes_a_loose_mode(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """The right value with a world-readable mode is tightened to 0600 (a change)."""
    env = _write(tmp_path / ".env", "K=v\n", 0o644)

    result = await set_env(make_ctx(), EnvSetParams(path=str(env), key="K", value="v"))

    assert result.changed is True
    assert _mode(env) == 0o600


async def test_env_set_never_reveals_the_value(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """The secret is absent from the summary, outputs, plan, recorded params and logs."""
    env = tmp_path / ".env"
    params = EnvSetParams(path=str(env), key="API_TOKEN", value=SECRET)
    definition = default_registry().get("env.set")

    with capture_logs() as logs:
        result = await set_env(make_ctx(logger=structlog.get_logger()), params)

    shown = [
        result.summary,
        json.dumps(result.outputs),
        definition.plan(params),
        json.dumps(params.model_dump(mode="json")),
        repr(params),
        repr(logs),
    ]
    assert all(SECRET not in text for text in shown)
    assert result.summary == f"set API_TOKEN=*** in {env}"
    assert SECRET in _read(env)


async def test_env_set_in_a_missing_directory_is_not_retryable(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """The dotenv file's directory must exist."""
    params = EnvSetParams(path=str(tmp_path / "nope" / ".env"), key="K", value="v")

    expected = f"cannot update {tmp_path}/nope/.env: directory {tmp_path}/nope does not exist"
    with pytest.raises(ActionError, match=re.escape(expected)) as info:
        await set_env(make_ctx(), params)

    assert info.value.retryable is False


async def test_flag_set_creates_the_file(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A new flags file holds the one flag, enabled or not, with no expiry."""
    flags = tmp_path / "flags.json"

    result = await set_flag(
        make_ctx(), FlagSetParams(file=str(flags), name="search", enabled=False)
    )

    assert json.loads(_read(flags)) == {"search": {"enabled": False, "expires_at": None}}
    assert _mode(flags) == 0o644
    assert result.summary == f"flag search set disabled in {flags}"


async def test_flag_set_keeps_other_flags_and_the_mode(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Other flags and keys stay; an existing file keeps its mode; ttl sets expires_at."""
    flags = _write(tmp_path / "flags.json", '{"other": {"enabled": true}, "version": 3}', 0o640)
    before = datetime.now(UTC)

    result = await set_flag(
        make_ctx(),
        FlagSetParams(file=str(flags), name="recommendations", enabled=False, ttl_min=30),
    )

    data = json.loads(_read(flags))
    assert data["other"] == {"enabled": True}
    assert data["version"] == 3
    expires = datetime.fromisoformat(data["recommendations"]["expires_at"])
    assert before + timedelta(minutes=30) <= expires <= datetime.now(UTC) + timedelta(minutes=30)
    assert result.outputs["expires_at"] == data["recommendations"]["expires_at"]
    assert data["recommendations"]["expires_at"].endswith("Z")
    assert _mode(flags) == 0o640


async def test_flag_set_same_state_is_a_no_op(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Setting a flag to the state it already has reports changed=False."""
    flags = tmp_path / "flags.json"
    params = FlagSetParams(file=str(flags), name="search", enabled=True)
    await set_flag(make_ctx(), params)

    again = await set_flag(make_ctx(), params)

    assert again.changed is False


async def test_flag_set_refuses_a_non_object_file(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """A flags file holding a JSON list (or broken JSON) is not silently replaced."""
    listed = _write(tmp_path / "list.json", "[1, 2]")
    broken = _write(tmp_path / "broken.json", "{nope")

    with pytest.raises(ActionError, match="must hold a JSON object, not list") as info:
        await set_flag(make_ctx(), FlagSetParams(file=str(listed), name="x", enabled=True))
    assert info.value.retryable is False
    with pytest.raises(ActionError, match=r"is not valid JSON \(.*\); fix or remove it"):
        await set_flag(make_ctx(), FlagSetParams(file=str(broken), name="x", enabled=True))
    assert _read(listed) == "[1, 2]"
