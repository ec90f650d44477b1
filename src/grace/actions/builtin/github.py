"""``github.rate_limit``: GitHub's REST rate limit, asked with the token a dotenv file holds.

``GET <api_url>/rate_limit`` (which GitHub does not count against the limit), with
``Authorization: Bearer <token>`` when ``env_file`` holds ``key``. The token is read inside
the action and never leaves it: it is not a parameter, an output, or part of any message.
The step fails when ``resources.<resource>.limit`` is below ``min_limit`` (5000 per hour is
an authenticated user's core limit; 60 is an anonymous client's).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from pydantic import Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import target_path
from grace.actions.builtin._params import (
    BuiltinParams,
    EnvName,
    FilePath,
    HttpUrl,
    Seconds,
    display_url,
)
from grace.errors import ActionError
from grace.secrets import Miss
from grace.secrets.file import dotenv_values, read_small

__all__ = ("RateLimitParams", "github_rate_limit")


class RateLimitParams(BuiltinParams):
    """Parameters of ``github.rate_limit``."""

    api_url: HttpUrl = "https://api.github.com"
    """GitHub's REST API root (GitHub Enterprise: ``https://HOST/api/v3``)."""
    env_file: FilePath | None = None
    """The dotenv file holding the token (none: ask anonymously)."""
    key: EnvName = "GITHUB_TOKEN"
    """The token's name in ``env_file``."""
    min_limit: int = Field(default=5000, ge=1, le=10_000_000)
    """The step fails when the hourly limit is below this (an authenticated token gets 5000)."""
    resource: str = Field(default="core", pattern=r"^[a-z_]+$")
    """Which limit of ``resources`` to check (``core``, ``search``, ``graphql``…)."""
    timeout_s: Seconds = Field(default=10.0, gt=0, le=120)
    """Seconds to wait for GitHub's answer."""


def _describe(p: RateLimitParams) -> str:
    who = f"with the {p.key} of {p.env_file}" if p.env_file else "anonymously"
    return (
        f"would ask {display_url(p.api_url)}/rate_limit {who} and fail unless the "
        f"{p.resource} limit is at least {p.min_limit}/h"
    )


def _token(params: RateLimitParams) -> str | None:
    if params.env_file is None:
        return None
    path = target_path(params.env_file)
    text = read_small(path, limit=10 * 1024 * 1024)
    if isinstance(text, Miss):
        msg = f"cannot read the token: {text.reason}"
        raise ActionError(msg, retryable=False, type="TokenUnreadable")
    value = (dotenv_values(text).get(params.key) or "").strip()
    if not value:
        msg = f"{path} has no {params.key}: nothing to check the rate limit with"
        raise ActionError(msg, retryable=False, type="TokenMissing")
    return value


@action(
    "github.rate_limit",
    params=RateLimitParams,
    risk="low",
    idempotent=True,
    outputs=("limit", "remaining", "used", "reset", "resource", "authenticated"),
    describe=_describe,
)
async def github_rate_limit(ctx: ActionContext, params: RateLimitParams) -> ActionResult:
    """Check GitHub's rate limit for a token (fails below ``min_limit`` per hour)."""
    import httpx

    del ctx
    token = await anyio.to_thread.run_sync(lambda: _token(params))
    url = f"{params.api_url.rstrip('/')}/rate_limit"
    shown = display_url(url)
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "grace-github-rate-limit",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with httpx.AsyncClient(timeout=params.timeout_s, follow_redirects=False) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        msg = f"GitHub API at {shown} did not answer: {type(exc).__name__}: {exc}"
        raise ActionError(msg, retryable=True, type="Unreachable") from None
    if response.status_code == 401:
        msg = (
            f"GitHub refused the {params.key} of {params.env_file} (401 Bad credentials): "
            "it is wrong, expired or revoked; put a valid token in the secrets backend"
        )
        raise ActionError(msg, retryable=False, type="BadCredentials")
    if response.status_code != 200:
        msg = f"GitHub API answered {response.status_code} for {shown}"
        raise ActionError(msg, retryable=True, type="HttpStatus")
    try:
        limits: Any = response.json()["resources"][params.resource]
        limit, remaining = int(limits["limit"]), int(limits["remaining"])
        used, reset = int(limits.get("used", limit - remaining)), int(limits["reset"])
    except (ValueError, KeyError, TypeError):
        msg = f"{shown} did not answer like GitHub (no resources.{params.resource} limits)"
        raise ActionError(msg, retryable=False, type="NotGitHub") from None
    outputs = {
        "limit": limit,
        "remaining": remaining,
        "used": used,
        "reset": reset,
        "resource": params.resource,
        "authenticated": token is not None,
    }
    summary = (
        f"GitHub {params.resource} rate limit {remaining}/{limit} "
        f"per hour ({'token' if token else 'anonymous'})"
    )
    if limit < params.min_limit:
        return ActionResult(
            ok=False,
            summary=f"{summary}: below {params.min_limit}/h, the token is not in effect",
            outputs=outputs,
        )
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=False)
