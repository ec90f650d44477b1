"""``secret.lookup``, ``secret.provision``, ``github.rate_limit`` and ``service.info``, called
as the runner calls them, on real files and against the fake GitHub API over real HTTP."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from grace.actions import ActionContext
from grace.actions.builtin.github import RateLimitParams, github_rate_limit
from grace.actions.builtin.secrets import (
    SecretLookupParams,
    SecretProvisionParams,
    provision_secret,
    secret_lookup,
)
from grace.actions.builtin.service_info import ServiceInfoParams, service_info
from grace.errors import ActionError
from grace.types import SystemClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from github_token_helpers import GitHubFake, github_fake

pytestmark = pytest.mark.anyio


def _text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def token() -> str:
    return "ghp_" + secrets.token_hex(18)


@pytest.fixture
def ctx(tmp_path: Path) -> ActionContext:
    return ActionContext(
        run_id="run_t", step="s", attempt=1, clock=SystemClock(), data_dir=tmp_path / ".grace"
    )


@pytest.fixture
def env_var(monkeypatch: pytest.MonkeyPatch, token: str) -> list[dict[str, str]]:
    monkeypatch.setenv("T_GITHUB_TOKEN", token)
    return [{"type": "env", "variable": "T_{key}"}]


async def test_lookup_reports_where_never_what(
    ctx: ActionContext, env_var: list[dict[str, str]], token: str
) -> None:
    result = await secret_lookup(ctx, SecretLookupParams(key="GITHUB_TOKEN", backends=env_var))
    assert result.outputs == {
        "found": True,
        "backend": "env",
        "reference": "env:T_GITHUB_TOKEN",
        "misses": [],
    }
    assert token not in result.summary
    missing = SecretLookupParams(key="NOPE", backends=env_var)
    result = await secret_lookup(ctx, missing)
    assert result.outputs["found"] is False
    assert result.outputs["misses"] == ["env: $T_NOPE is not set in Grace's environment"]
    with pytest.raises(ActionError, match="NOPE is in no secrets backend") as e:
        await secret_lookup(ctx, SecretLookupParams(key="NOPE", backends=env_var, required=True))
    assert e.value.type == "SecretNotFound"
    assert e.value.retryable is False


async def test_provision_writes_through_env_set_then_is_idempotent(
    ctx: ActionContext, env_var: list[dict[str, str]], token: str, tmp_path: Path
) -> None:
    """0600, atomic, other lines kept, the old file backed up; a second call writes nothing."""
    env = tmp_path / ".env"
    env.write_text("A=1\nGITHUB_TOKEN=\n", encoding="utf-8")
    params = SecretProvisionParams(key="GITHUB_TOKEN", env_file=str(env), backends=env_var)
    result = await provision_secret(ctx, params)
    assert dotenv_values(env) == {"A": "1", "GITHUB_TOKEN": token}
    assert env.stat().st_mode & 0o777 == 0o600
    out = result.outputs
    assert (out["found"], out["backend"], out["changed"]) == (True, "env", True)
    assert _text(out["backup_path"]) == "A=1\nGITHUB_TOKEN=\n"
    assert token not in json.dumps(out) + result.summary
    again = await provision_secret(ctx, params)
    assert (again.changed, again.outputs["changed"], again.outputs["backup_path"]) == (
        False,
        False,
        None,
    )


async def test_provision_falls_back_to_the_env_file_and_then_fails_clearly(
    ctx: ActionContext, tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_GITHUB_TOKEN", raising=False)
    chain = [{"type": "env", "variable": "T_{key}"}]
    env = tmp_path / ".env"
    env.write_text(f"GITHUB_TOKEN={token}\n", encoding="utf-8")
    before = env.stat().st_mtime_ns
    params = SecretProvisionParams(key="GITHUB_TOKEN", env_file=str(env), backends=chain)
    result = await provision_secret(ctx, params)
    assert (result.outputs["backend"], result.changed) == ("env_file", False)
    assert result.outputs["reference"] == f"dotenv:{env}#GITHUB_TOKEN"
    assert env.stat().st_mtime_ns == before
    env.write_text("OTHER=1\n", encoding="utf-8")
    hinted = SecretProvisionParams(
        key="GITHUB_TOKEN", env_file=str(env), backends=chain, prompt=True, hint="ask Ops"
    )
    with pytest.raises(ActionError) as e:
        await provision_secret(ctx, hinted)
    message = str(e.value)
    assert message.startswith(f"GITHUB_TOKEN is in no secrets backend, so {env} was left")
    assert "- env: $T_GITHUB_TOKEN is not set in Grace's environment" in message
    assert f"- env_file: {env} has no GITHUB_TOKEN= line" in message
    # pytest's stdin is not a terminal: the prompt is not shown, and the error says so.
    assert "- prompt: not asked: Grace's stdin is not a terminal (a daemon run)" in message
    assert message.endswith("Add it to one of them (docs/secrets.md); ask Ops")
    assert e.value.outputs["found"] is False
    assert env.read_text(encoding="utf-8") == "OTHER=1\n"


def test_provision_params_validate_the_chain_and_hide_nothing_secret() -> None:
    with pytest.raises(ValidationError, match=r"backends\[0\]: unknown secrets backend type"):
        SecretProvisionParams(key="GITHUB_TOKEN", backends=[{"type": "nope"}])
    with pytest.raises(ValidationError, match="not an environment variable name"):
        SecretProvisionParams(key="GITHUB-TOKEN")


@pytest.fixture
def api(tmp_path: Path, token: str) -> Iterator[GitHubFake]:
    with github_fake(tmp_path, token) as fake:
        yield fake


async def test_rate_limit_with_the_token_of_an_env_file(
    ctx: ActionContext, api: GitHubFake, tmp_path: Path, token: str
) -> None:
    env = tmp_path / "app.env"
    env.write_text(f"GITHUB_TOKEN={token}\n", encoding="utf-8")
    result = await github_rate_limit(ctx, RateLimitParams(api_url=api.url, env_file=str(env)))
    assert result.ok
    assert result.outputs["limit"] == 5000
    assert result.outputs["authenticated"] is True
    assert token not in result.summary
    (seen,) = api.requests()
    assert (seen["path"], seen["auth"]) == ("/rate_limit", "valid")


async def test_rate_limit_below_the_minimum_or_refused_fails(
    ctx: ActionContext, api: GitHubFake, tmp_path: Path, token: str
) -> None:
    anonymous = await github_rate_limit(ctx, RateLimitParams(api_url=api.url))
    assert not anonymous.ok
    assert anonymous.outputs["limit"] == 60
    assert "below 5000/h" in anonymous.summary
    env = tmp_path / "app.env"
    env.write_text("GITHUB_TOKEN=ghp_revoked\n", encoding="utf-8")
    with pytest.raises(ActionError, match=r"401 Bad credentials") as e:
        await github_rate_limit(ctx, RateLimitParams(api_url=api.url, env_file=str(env)))
    assert "ghp_revoked" not in str(e.value)
    env.write_text("OTHER=1\n", encoding="utf-8")
    with pytest.raises(ActionError, match="has no GITHUB_TOKEN"):
        await github_rate_limit(ctx, RateLimitParams(api_url=api.url, env_file=str(env)))


async def test_service_info_compares_the_start_with_the_file(
    ctx: ActionContext, tmp_path: Path
) -> None:
    """A process started after the .env changed already has its content; one started before
    does not. The start time is the supervisor's own stamp."""
    services = ctx.data_dir / "services"
    services.mkdir(parents=True)
    env = tmp_path / ".env"
    env.write_text("A=1\n", encoding="utf-8")
    changed = datetime.fromtimestamp(env.stat().st_mtime, UTC)
    for delta, expected in ((timedelta(seconds=1), True), (timedelta(seconds=-1), False)):
        state = {
            "name": "miner",
            "status": "running",
            "pid": os.getpid(),
            "started_at": (changed + delta).isoformat(),
            "restarts": 2,
        }
        (services / "miner.json").write_text(json.dumps(state), encoding="utf-8")
        result = await service_info(ctx, ServiceInfoParams(service="miner", file=str(env)))
        assert result.outputs["started_after_file"] is expected
        assert (result.outputs["pid"], result.outputs["restarts"]) == (os.getpid(), 2)
    with pytest.raises(ActionError, match="'web' has no state file"):
        await service_info(ctx, ServiceInfoParams(service="web"))
