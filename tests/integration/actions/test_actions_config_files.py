"""``config.get`` / ``config.set`` on real files: comments kept, atomic, backed up, never on a broken file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from pydantic import ValidationError

from grace.actions import ActionContext
from grace.actions.builtin.backups import list_backups
from grace.actions.builtin.config_files import (
    ConfigGetParams,
    ConfigSetParams,
    get_config_value,
    set_config_value,
)
from grace.errors import ActionError

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]

CHAIN = ["google", "bing", "duckduckgo", "mock"]
YAML_TEXT = """\
# the search service
search:
  provider: google   # google | bing | duckduckgo | mock
  timeout_s: 5
  hosts: ['a', "b"]
other: {keep: me}
"""


def _read(path: Path) -> str:
    return path.read_text()


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(YAML_TEXT, encoding="utf-8")
    path.chmod(0o640)
    return path


async def test_a_yaml_key_changes_and_nothing_else(make_ctx: MakeCtx, yaml_file: Path) -> None:
    ctx = make_ctx()
    result = await set_config_value(
        ctx, ConfigSetParams(file=str(yaml_file), key="search.provider", value="bing")
    )
    assert result.changed
    assert result.outputs["previous"] == "google"
    assert _read(yaml_file) == YAML_TEXT.replace("provider: google   #", "provider: bing     #")
    assert _mode(yaml_file) == 0o640
    (backup,) = list_backups(ctx.data_dir, yaml_file)
    assert _read(backup) == YAML_TEXT
    assert result.outputs["backup_path"] == str(backup)


async def test_the_chain_advances_once_and_compare_and_set_leaves_a_moved_value(
    make_ctx: MakeCtx, yaml_file: Path
) -> None:
    params = ConfigSetParams(
        file=str(yaml_file), key="search.provider", next_in=CHAIN, expect="google"
    )
    first = await set_config_value(make_ctx(), params)
    assert (first.outputs["value"], first.changed, first.outputs["matched"]) == ("bing", True, True)
    again = await set_config_value(make_ctx(), params)  # a late repeat of the same alarm
    assert (again.outputs["value"], again.changed, again.outputs["matched"]) == (
        "bing",
        False,
        False,
    )
    assert "provider: bing" in _read(yaml_file)


async def test_two_concurrent_advances_move_the_chain_twice_never_from_the_same_value(
    make_ctx: MakeCtx, yaml_file: Path
) -> None:
    params = ConfigSetParams(file=str(yaml_file), key="search.provider", next_in=CHAIN)
    results = []

    async def one() -> None:
        results.append(await set_config_value(make_ctx(), params))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert sorted(r.outputs["value"] for r in results) == ["bing", "duckduckgo"]
    assert "provider: duckduckgo" in _read(yaml_file)


async def test_the_end_of_the_chain_and_an_unknown_value_are_clear_errors(
    make_ctx: MakeCtx, yaml_file: Path
) -> None:
    params = ConfigSetParams(file=str(yaml_file), key="search.provider", next_in=["bing", "mock"])
    with pytest.raises(ActionError, match="not in the chain") as err:
        await set_config_value(make_ctx(), params)
    assert err.value.type == "NotInChain"
    await set_config_value(
        make_ctx(), ConfigSetParams(file=str(yaml_file), key="search.provider", value="mock")
    )
    with pytest.raises(ActionError, match="no fallback left") as err:
        await set_config_value(make_ctx(), params)
    assert err.value.type == "ChainExhausted"


async def test_a_file_that_does_not_parse_is_never_overwritten(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("search:\n  provider: [google\n", encoding="utf-8")
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"search": {"provider": "google",}}', encoding="utf-8")
    for path in (broken, bad_json):
        before = path.read_bytes()
        with pytest.raises(ActionError, match="Grace will not overwrite it") as err:
            await set_config_value(
                make_ctx(), ConfigSetParams(file=str(path), key="search.provider", value="bing")
            )
        assert err.value.type == "BadConfigFile"
        assert path.read_bytes() == before
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ActionError, match="does not exist"):
        await set_config_value(make_ctx(), ConfigSetParams(file=str(missing), key="a", value=1))
    assert not missing.exists()


async def test_json_keeps_key_order_and_indent_and_creates_missing_parents(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{\n    "z": 1,\n    "search": {"provider": "google"}\n}\n', encoding="utf-8")
    result = await set_config_value(
        make_ctx(), ConfigSetParams(file=str(path), key="search.limits.daily", value=100)
    )
    assert result.changed
    assert json.loads(path.read_text()) == {
        "z": 1,
        "search": {"provider": "google", "limits": {"daily": 100}},
    }
    assert path.read_text().startswith('{\n    "z": 1,')
    same = await set_config_value(
        make_ctx(), ConfigSetParams(file=str(path), key="search.limits.daily", value=100)
    )
    assert not same.changed
    with pytest.raises(ActionError, match="not a mapping"):
        await set_config_value(make_ctx(), ConfigSetParams(file=str(path), key="z.deeper", value=1))


async def test_config_get_reads_yaml_json_and_toml(make_ctx: MakeCtx, tmp_path: Path) -> None:
    toml = tmp_path / "app.toml"
    toml.write_text('[search]\nprovider = "bing"\n', encoding="utf-8")
    got = await get_config_value(make_ctx(), ConfigGetParams(file=str(toml), key="search.provider"))
    assert got.outputs == {
        "file": str(toml),
        "key": "search.provider",
        "value": "bing",
        "exists": True,
    }
    absent = await get_config_value(
        make_ctx(), ConfigGetParams(file=str(toml), key="search.region", default="us")
    )
    assert (absent.outputs["value"], absent.outputs["exists"]) == ("us", False)
    with pytest.raises(ActionError, match="does not write TOML"):
        await set_config_value(
            make_ctx(), ConfigSetParams(file=str(toml), key="search.provider", value="x")
        )


def test_params_are_bounded() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        ConfigSetParams(file="a.yaml", key="a")
    with pytest.raises(ValidationError, match="exactly one of"):
        ConfigSetParams(file="a.yaml", key="a", value=1, next_in=["x", "y"])
    with pytest.raises(ValidationError, match="segment"):
        ConfigSetParams(file="a.yaml", key="a..b", value=1)
    with pytest.raises(ValidationError, match="twice"):
        ConfigSetParams(file="a.yaml", key="a", next_in=["x", "x"])
