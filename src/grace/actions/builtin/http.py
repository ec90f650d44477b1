"""``http.request`` and ``http.check``: talk to a service over HTTP with httpx.

Redirects are not followed (a 302 is an answer worth seeing). Bodies are read up to a cap,
so a huge response cannot exhaust memory. URLs in summaries and plans never show a query
string or credentials.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._params import BuiltinParams, HttpUrl, Seconds, StatusCode, display_url
from grace.errors import ActionError

if TYPE_CHECKING:
    import httpx

__all__ = ("HttpCheckParams", "HttpRequestParams", "http_check", "http_request", "read_capped")

BODY_OUTPUT_BYTES = 64 * 1024
"""``http.request``'s ``body`` output keeps this many bytes."""
_JSON_READ_BYTES = 10 * 1024 * 1024
_CHECK_READ_BYTES = 1024 * 1024

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of a streamed body, and whether that was all of it."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) > limit:
            return bytes(kept[:limit]), False
    return bytes(kept), True


def _elapsed_ms(ctx: ActionContext, started: float) -> float:
    return round((ctx.clock.monotonic() - started) * 1000, 1)


class HttpRequestParams(BuiltinParams):
    """Parameters of ``http.request``."""

    url: HttpUrl
    """An http:// or https:// URL."""
    method: Method = "GET"
    """GET, POST, PUT, PATCH, DELETE or HEAD."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Request headers (names appear in plans, values never do)."""
    json_body: Any = Field(default=None, alias="json")
    """A JSON body (sets ``Content-Type: application/json``)."""
    body: str | None = None
    """A raw text body; give either ``json`` or ``body``, not both."""
    timeout_s: Seconds = Field(default=10.0, gt=0, le=300)
    """Seconds to wait for the answer (more than 0, at most 300)."""
    expect_status: list[StatusCode] | None = Field(default=None, min_length=1)
    """Statuses that count as success; None means any status below 400."""

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if self.json_body is not None and self.body is not None:
            msg = "give either json (a structure sent as JSON) or body (raw text), not both"
            raise ValueError(msg)
        return self


def _describe_request(p: HttpRequestParams) -> str:
    text = f"would send {p.method} {display_url(p.url)}"
    if p.json_body is not None:
        text += " with a JSON body"
    elif p.body is not None:
        text += f" with a {len(p.body.encode())}-byte body"
    if p.headers:
        text += f" (headers: {', '.join(sorted(p.headers))})"
    if p.expect_status:
        text += f", expecting status {' or '.join(map(str, p.expect_status))}"
    else:
        text += ", expecting a status below 400"
    return text


def _transport_error(method: str, url: str, exc: httpx.HTTPError, timeout_s: float) -> ActionError:
    import httpx

    where = f"{method} {display_url(url)}"
    if isinstance(exc, httpx.TimeoutException):
        return ActionError(f"{where}: no response within {timeout_s:g}s", type="HttpTimeout")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ActionError(f"{where}: {exc}", retryable=False, type="HttpInvalidRequest")
    return ActionError(f"{where}: {type(exc).__name__}: {exc}", type="HttpConnectError")


@action(
    "http.request",
    params=HttpRequestParams,
    risk="medium",
    idempotent=False,
    outputs=("status", "body", "json", "headers", "elapsed_ms"),
    describe=_describe_request,
)
async def http_request(ctx: ActionContext, params: HttpRequestParams) -> ActionResult:
    """Send an HTTP request and expose the status, body, parsed JSON and headers."""
    import httpx  # here, not at the top: an idle daemon never pays for it

    async with httpx.AsyncClient(timeout=params.timeout_s, follow_redirects=False) as client:
        started = ctx.clock.monotonic()
        try:
            async with client.stream(
                params.method,
                params.url,
                headers=params.headers,
                json=params.json_body,
                content=params.body,
            ) as response:
                raw, complete = await read_capped(response, _JSON_READ_BYTES)
        except httpx.HTTPError as exc:
            raise _transport_error(params.method, params.url, exc, params.timeout_s) from exc
    elapsed = _elapsed_ms(ctx, started)
    parsed: Any = None
    if complete and raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    encoding = response.encoding or "utf-8"
    outputs = {
        "status": response.status_code,
        "body": raw[:BODY_OUTPUT_BYTES].decode(encoding, errors="replace"),
        "json": parsed,
        "headers": {k: ", ".join(response.headers.get_list(k)) for k in response.headers},
        "elapsed_ms": elapsed,
    }
    status = response.status_code
    ok = status in params.expect_status if params.expect_status else status < 400
    where = f"{params.method} {display_url(params.url)}"
    if ok:
        return ActionResult(
            ok=True, summary=f"{where} → {status} in {elapsed:g} ms", outputs=outputs
        )
    wanted = " or ".join(map(str, params.expect_status)) if params.expect_status else "below 400"
    return ActionResult(
        ok=False, summary=f"{where}: expected status {wanted}, got {status}", outputs=outputs
    )


class HttpCheckParams(BuiltinParams):
    """Parameters of ``http.check``."""

    url: HttpUrl
    """An http:// or https:// URL to GET."""
    expect_status: StatusCode = 200
    """The status that means healthy (100 to 599)."""
    body_regex: str | None = Field(default=None, min_length=1, max_length=1000)
    """A regular expression the body must contain (``re.search``, first 1 MiB)."""
    timeout_s: Seconds = Field(default=10.0, gt=0, le=300)
    """Seconds to wait for the answer (more than 0, at most 300)."""

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                msg = f"body_regex {value!r} is not a valid regular expression: {exc}"
                raise ValueError(msg) from None
        return value


def _describe_check(p: HttpCheckParams) -> str:
    text = f"would GET {display_url(p.url)} and expect status {p.expect_status}"
    if p.body_regex is not None:
        text += f" and a body matching {p.body_regex!r}"
    return text


@action(
    "http.check",
    params=HttpCheckParams,
    risk="low",
    idempotent=True,
    outputs=("status", "elapsed_ms", "matched"),
    describe=_describe_check,
)
async def http_check(ctx: ActionContext, params: HttpCheckParams) -> ActionResult:
    """GET a URL and check its status (and optionally its body); a failed check is retryable."""
    import httpx

    where = f"GET {display_url(params.url)}"
    async with httpx.AsyncClient(timeout=params.timeout_s, follow_redirects=False) as client:
        started = ctx.clock.monotonic()
        try:
            async with client.stream("GET", params.url) as response:
                raw, _ = await read_capped(response, _CHECK_READ_BYTES)
        except httpx.TimeoutException:
            outputs = {"status": None, "elapsed_ms": _elapsed_ms(ctx, started), "matched": None}
            return ActionResult(
                ok=False,
                summary=f"{where}: no response within {params.timeout_s:g}s",
                outputs=outputs,
                changed=False,
            )
        except httpx.HTTPError as exc:
            outputs = {"status": None, "elapsed_ms": _elapsed_ms(ctx, started), "matched": None}
            return ActionResult(
                ok=False,
                summary=f"{where}: {type(exc).__name__}: {exc}",
                outputs=outputs,
                changed=False,
            )
    status = response.status_code
    matched: bool | None = None
    if params.body_regex is not None:
        text = raw.decode(response.encoding or "utf-8", errors="replace")
        matched = re.search(params.body_regex, text) is not None
    outputs = {"status": status, "elapsed_ms": _elapsed_ms(ctx, started), "matched": matched}
    if status != params.expect_status:
        summary = f"{where}: expected status {params.expect_status}, got {status}"
        return ActionResult(ok=False, summary=summary, outputs=outputs, changed=False)
    if matched is False:
        summary = f"{where}: status {status} but the body does not match {params.body_regex!r}"
        return ActionResult(ok=False, summary=summary, outputs=outputs, changed=False)
    return ActionResult(
        ok=True,
        summary=f"{where} → {status} in {outputs['elapsed_ms']:g} ms",
        outputs=outputs,
        changed=False,
    )
