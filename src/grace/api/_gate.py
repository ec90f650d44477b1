"""The auth gate: pure ASGI, without FastAPI (module :mod:`grace.api._auth` explains the rules).

Tokens (:class:`TokenBook`), dashboard sessions (:class:`Sessions`) and :class:`AuthGate` live
here so that ``grace serve`` can check the credentials of ``POST /api/events`` before FastAPI
is loaded (:mod:`grace.api._front`); :mod:`grace.api._auth` adds what routes depend on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from grace.tokens import ApiToken, Role, looks_like_token

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.engine import Engine
    from grace.store import Store

__all__ = (
    "CSRF_HEADER",
    "DASHBOARD_OPEN_PATHS",
    "DEFAULT_OPEN_PATHS",
    "OPEN_PRINCIPAL",
    "ROLE_KEY",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "AuthGate",
    "AuthParts",
    "Principal",
    "Sessions",
    "TokenBook",
    "auth_parts",
    "needs",
    "too_low",
)

SESSION_COOKIE = "grace_session"
CSRF_HEADER = "x-csrf-token"
DEFAULT_OPEN_PATHS = ("/health", "/metrics")
"""Served without credentials unless ``api.open_paths`` says otherwise."""
DASHBOARD_OPEN_PATHS = ("/login", "/static/*")
"""Always open: the login page and the dashboard's own CSS and JS (nothing secret)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ROLE_KEY = "x-grace-role"
"""A route needing more than its method's default says so in its ``openapi_extra``
(``{"x-grace-role": "approver"}``); the role then also shows in the OpenAPI document."""


def needs(role: Role) -> dict[str, str]:
    """``openapi_extra`` for a route that needs ``role`` (merge with other extras)."""
    return {ROLE_KEY: role.label}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    name: str
    """The token's name: recorded as the actor of everything this request does."""
    role: Role
    token_id: str | None
    via: Literal["token", "session", "open"]
    """``open``: auth is off (``api.auth: false``); the request says who it is in its body."""


OPEN_PRINCIPAL = Principal(name="", role=Role.ADMIN, token_id=None, via="open")


# -- tokens ---------------------------------------------------------------------------------


class TokenBook:
    """Tokens checked against the store, with a short in-process cache.

    A known secret is looked up at most every ``ttl_s`` seconds (each request hashing it is a
    microsecond; a database read per request would cost more than the request itself). A token
    revoked in this process stops working at once; revoked elsewhere, within ``ttl_s``.
    """

    def __init__(self, store: Store, *, ttl_s: float = 10.0, touch_every_s: float = 60.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.touch_every_s = touch_every_s
        self._by_secret: dict[str, tuple[float, ApiToken | None]] = {}
        self._by_id: dict[str, tuple[float, ApiToken | None]] = {}
        self._used: dict[str, datetime] = {}
        self._touched = time.monotonic()

    async def by_secret(self, secret: str) -> ApiToken | None:
        """The usable token with this secret, or None."""
        if not looks_like_token(secret):
            return None
        now = time.monotonic()
        hit = self._by_secret.get(secret)
        if hit is None or now - hit[0] > self.ttl_s:
            token = await anyio.to_thread.run_sync(self.store.token_for_secret, secret)
            if len(self._by_secret) > 10_000:  # bounded: garbage secrets cannot grow it forever
                self._by_secret.clear()
            self._by_secret[secret] = hit = (now, token)
        return await self._usable(hit[1])

    async def by_id(self, token_id: str) -> ApiToken | None:
        """The usable token with this id (a session's), or None."""
        now = time.monotonic()
        hit = self._by_id.get(token_id)
        if hit is None or now - hit[0] > self.ttl_s:
            token = await anyio.to_thread.run_sync(self.store.get_token, token_id)
            if len(self._by_id) > 10_000:
                self._by_id.clear()
            self._by_id[token_id] = hit = (now, token)
        return await self._usable(hit[1])

    def forget(self) -> None:
        """Drop the cache (after a revocation in this process)."""
        self._by_secret.clear()
        self._by_id.clear()

    async def _usable(self, token: ApiToken | None) -> ApiToken | None:
        if token is None:
            return None
        now = self.store.clock.now()
        if not token.usable(now):
            return None
        self._used[token.id] = now
        if time.monotonic() - self._touched > self.touch_every_s:
            used, self._used = self._used, {}
            self._touched = time.monotonic()
            await anyio.to_thread.run_sync(self.store.touch_tokens, used)
        return token


# -- sessions -------------------------------------------------------------------------------


class Sessions:
    """Signed session cookies for the dashboard, and their CSRF tokens.

    The cookie holds the token id, an expiry and a nonce, signed with HMAC-SHA256 under a key
    kept in the database (every node shares it). Revoking the token ends its sessions.
    """

    def __init__(self, key: bytes, *, lifetime_s: float = 12 * 3600) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def issue(self, token: ApiToken) -> str:
        """A cookie value for a session of ``token``."""
        payload = {
            "t": token.id,
            "e": int(time.time() + self.lifetime_s),
            "n": secrets.token_hex(8),
        }
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def token_id(self, cookie: str) -> str | None:
        """The token id of a valid, unexpired session cookie, else None."""
        body, _, signature = cookie.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if int(payload["e"]) < time.time():
                return None
            return str(payload["t"])
        except (ValueError, KeyError, TypeError):
            return None

    def csrf(self, cookie: str) -> str:
        """The CSRF token bound to this session (what its pages put in their forms)."""
        return self._sign("csrf:" + cookie)[:32]

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthParts:
    """What every auth gate of one server shares: the token cache, the session keys, and the
    paths served without credentials."""

    tokens: TokenBook
    sessions: Callable[[], Awaitable[Sessions]]
    open_paths: tuple[str, ...]


def auth_parts(
    settings: Settings | None, engine: Engine | None, auth: bool | None
) -> AuthParts | None:
    """The gate's parts for these settings (``api:``), or None when auth is off.

    Raises:
        ConfigError: auth is on and there is no engine (whose store keeps the tokens).
    """
    from grace.config import ApiSettings
    from grace.errors import ConfigError

    source = settings if settings is not None else (engine.settings if engine else None)
    api = source.api if source is not None else ApiSettings()
    if not (api.auth if auth is None else auth):
        return None
    if engine is None:
        msg = "API auth needs the engine's store, which keeps the tokens"
        raise ConfigError(msg, hint="pass create_app(..., engine=engine), or auth=False")
    store = engine.store
    made: list[Sessions] = []

    async def sessions() -> Sessions:
        if not made:
            key = await anyio.to_thread.run_sync(store.session_key)
            made.append(Sessions(key, lifetime_s=api.session_hours * 3600))
        return made[0]

    return AuthParts(
        tokens=TokenBook(store, ttl_s=api.token_cache_s),
        sessions=sessions,
        open_paths=api.open_paths,
    )


# -- the gate -------------------------------------------------------------------------------


class AuthGate:
    """ASGI middleware: authenticate, authorise by role, check CSRF (module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenBook,
        sessions: Callable[[], Awaitable[Sessions]],
        open_paths: Sequence[str],
        declared: Callable[[], Sequence[tuple[str, re.Pattern[str], Role]]],
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.sessions = sessions
        exact = {p for p in (*open_paths, *DASHBOARD_OPEN_PATHS) if not p.endswith("*")}
        prefixes = tuple(p[:-1] for p in (*open_paths, *DASHBOARD_OPEN_PATHS) if p.endswith("*"))
        self._open_exact = frozenset(exact)
        self._open_prefixes = prefixes
        self._declared = declared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in self._open_exact or path.startswith(self._open_prefixes):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        headers = _headers(scope)
        principal, refusal = await self._principal(headers, method, path)
        if principal is None:
            await self._unauthenticated(scope, receive, send, headers, refusal)
            return
        needed = Role.VIEWER if method in SAFE_METHODS else Role.OPERATOR
        for verb, pattern, role in self._declared():
            if verb == method and pattern.fullmatch(path):
                needed = max(needed, role)
        if principal.role < needed:
            error, hint = too_low(principal, needed)
            await _json(send, 403, error, hint)
            return
        scope["grace.principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(
        self, headers: dict[str, str], method: str, path: str
    ) -> tuple[Principal | None, str]:
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                return None, "the Authorization header must be 'Bearer <token>'"
            token = await self.tokens.by_secret(secret.strip())
            if token is None:
                return None, "the token is unknown, revoked or expired"
            return Principal(token.name, token.role, token.id, "token"), ""
        cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if cookie is None:
            return None, "no credentials"
        sessions = await self.sessions()
        token_id = sessions.token_id(cookie)
        token = None if token_id is None else await self.tokens.by_id(token_id)
        if token is None:
            return None, "the session has ended; log in again"
        return Principal(token.name, token.role, token.id, "session"), ""

    async def _unauthenticated(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], why: str
    ) -> None:
        path: str = scope["path"]
        wants_page = (
            scope["method"] == "GET"
            and not path.startswith("/api/")
            and "text/html" in headers.get("accept", "")
        )
        if wants_page:
            target = path + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
            location = "/login?next=" + quote(target, safe="")
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _json(
            send,
            401,
            f"authentication required: {why}",
            "send 'Authorization: Bearer <token>' (grace token create --role viewer --name NAME)",
            extra=[(b"www-authenticate", b'Bearer realm="grace"')],
        )


def too_low(principal: Principal, needed: Role) -> tuple[str, str]:
    label = principal.role.label
    article = "an" if label[0] in "aeiou" else "a"
    who = f"token {principal.name!r} is {article} {label}"
    hint = f"use a token with the {needed.label} role (grace token create --role {needed.label})"
    return f"this needs the {needed.label} role; {who}", hint


# -- plumbing -------------------------------------------------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


async def _json(
    send: Send,
    status: int,
    error: str,
    hint: str | None,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": error, "hint": hint}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
