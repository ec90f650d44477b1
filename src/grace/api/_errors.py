"""Every error leaves the API as JSON ``{"error", "hint"}`` with the right status.

=========================================  ======
What                                       Status
=========================================  ======
malformed JSON, another :class:`GraceError`  400
unknown route or webhook name                 404
body over the size limit                      413
:class:`ConfigError` (invalid input)          422
:class:`StoreError` (database unreachable)    503
anything unexpected (no stack trace)          500
=========================================  ======

A database outage is a 5xx on purpose: Alertmanager and the SDK retry a 5xx, not a 4xx.

This module does not import FastAPI (only :func:`install_error_handlers` does, when called):
``grace serve`` answers ``/health`` and ``POST /api/events`` before FastAPI is loaded
(:mod:`grace.api._front`).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grace.errors import ConfigError, GraceError, StoreError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError

__all__ = (
    "ApiError",
    "BodyLimit",
    "BodyTooLarge",
    "RefuseNul",
    "error_reply",
    "install_error_handlers",
    "json_reply",
    "parse_json",
)


class ApiError(Exception):
    """A request the API refuses, with its status and a hint."""

    def __init__(
        self, status: int, error: str, *, hint: str | None = None, details: list[str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.details = details or []


async def json_reply(
    send: Send,
    status: int,
    body: Any,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send ``body`` as a whole JSON response, byte for byte what Starlette's ``JSONResponse``
    sends (compact, UTF-8, ``content-length`` then ``content-type``), without Starlette's
    response classes."""
    payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    headers = [
        (b"content-length", str(len(payload)).encode()),
        (b"content-type", b"application/json"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _reply(send: Send, status: int, error: str, hint: str | None) -> None:
    await json_reply(send, status, {"error": error, "hint": hint})


def _limit_text(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _too_large(limit: int) -> tuple[str, str]:
    return (
        f"request body is larger than the limit of {_limit_text(limit)}",
        "send less per request (POST /api/events takes lists of at most 1000 events: split them)",
    )


class BodyTooLarge(HTTPException):
    """Raised while reading a body that grows past the limit (a chunked upload)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_too_large(limit)[0])
        self.limit = limit


class RefuseNul:
    """ASGI middleware refusing a URL that holds a NUL character (``%00``) with a JSON 422.

    No stored text holds one (events keep U+FFFD instead), and PostgreSQL refuses a NUL in any
    query parameter, so a filter or an id carrying one can only be a mistake or a probe.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            await _reply(
                send,
                422,
                "the URL holds a NUL character (%00)",
                "no name, id or filter value contains one: remove it",
            )
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` with a JSON 413.

    A declared ``Content-Length`` over the limit is refused before the body is read; a body
    without one is counted as it streams in, and reading stops at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error, hint = _too_large(self.max_bytes)
            await _reply(send, 413, error, hint)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def _validation_text(exc: RequestValidationError) -> list[str]:
    texts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        texts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return texts or ["invalid request"]


def error_reply(exc: Exception, method: str, path: str) -> tuple[int, dict[str, Any]]:
    """The status and ``{"error", "hint"[, "details"]}`` body for an exception (module table)."""
    status: int
    error: str
    hint: str | None
    details: list[str] | None = None
    if isinstance(exc, ApiError):
        status, error, hint, details = exc.status, exc.error, exc.hint, exc.details
    elif isinstance(exc, ConfigError):
        status, error, hint = 422, str(exc), exc.hint
    elif isinstance(exc, StoreError):
        status, error, hint = 503, f"the store is unavailable: {exc}", "retry later"
    elif isinstance(exc, GraceError):
        status, error, hint = 400, str(exc), exc.hint
    elif isinstance(exc, BodyTooLarge):
        status, (error, hint) = 413, _too_large(exc.limit)
    elif isinstance(exc, HTTPException) and exc.status_code == 404:
        status, error, hint = 404, f"no route {method} {path}", "see /docs for the routes"
    elif isinstance(exc, HTTPException) and exc.status_code == 405:
        status, error, hint = 405, f"{method} is not allowed on {path}", None
    elif isinstance(exc, HTTPException):
        status, error, hint = exc.status_code, str(exc.detail), None
    elif _is_validation_error(exc):
        texts = _validation_text(exc)  # type: ignore[arg-type]
        status, error, hint, details = 422, texts[0], "see /docs for the expected shape", texts[1:]
    else:
        status, error, hint = 500, "internal error", "the server log has the details"
    body: dict[str, Any] = {"error": error, "hint": hint}
    if details:
        body["details"] = details
    return status, body


def _is_validation_error(exc: Exception) -> bool:
    # Only FastAPI raises one, so while FastAPI is not loaded nothing can be one.
    module = sys.modules.get("fastapi.exceptions")
    return module is not None and isinstance(exc, module.RequestValidationError)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into ``{"error", "hint"}``."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    async def on_error(request: Request, exc: Exception) -> Any:
        status, body = error_reply(exc, request.method, request.url.path)
        return JSONResponse(body, status_code=status)

    for kind in (ApiError, GraceError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, on_error)


def parse_json(raw: bytes, *, keep_nul: bool = False) -> Any:
    """The JSON in ``raw``; :class:`ApiError` 400 naming the position when it is malformed,
    422 when a string holds a NUL character or a lone surrogate (no database column takes
    them) unless ``keep_nul`` (events: the store keeps U+FFFD in their place)."""
    if not raw.strip():
        msg = "the request body is empty"
        raise ApiError(400, msg, hint="send a JSON body with Content-Type: application/json")
    try:
        value = json.loads(raw)
    except UnicodeDecodeError as exc:
        msg = f"the request body is not UTF-8: {exc.reason} at byte {exc.start}"
        raise ApiError(400, msg, hint="send UTF-8 encoded JSON") from exc
    except json.JSONDecodeError as exc:
        msg = (
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
        raise ApiError(400, msg, hint="check the JSON syntax (e.g. with jq .)") from exc
    if not keep_nul and (b"\\u0000" in raw or b"\\ud" in raw.lower()):
        where = _bad_text(value, "body")
        if where is not None:
            msg = f"{where}: text holds a NUL character or a lone surrogate"
            raise ApiError(422, msg, hint="send valid Unicode text without \\u0000")
    return value


def _bad_text(value: Any, where: str) -> str | None:
    """Where in ``value`` a string holds a NUL or a lone surrogate, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return where
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _bad_text(key, where) or _bad_text(item, f"{where}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_text(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None
