"""Who is asking, and may they: API tokens, dashboard sessions, roles, CSRF.

One pure-ASGI middleware (:class:`AuthGate`) sits in front of every route, so a route cannot
be left open by forgetting a decorator:

- ``api.open_paths`` (default ``/health`` and ``/metrics``; ``/login`` and ``/static/*`` for the
  dashboard) pass untouched.
- Everything else needs a principal: ``Authorization: Bearer <token>``, or the dashboard's
  session cookie. No credentials: 401 (a browser asking for a page is sent to ``/login``).
- :func:`authorize`, the app's first dependency on every route, checks the role the matched
  route needs: what it declares (:func:`needs`, in its ``openapi_extra``), else
  ``viewer`` to read (GET/HEAD) and ``operator`` to change anything. Too low: 403. Pressing
  the emergency stop is an operator's right on purpose: stopping must be easy, resuming
  (admin) is not.
- A request carried by the session cookie that changes something must prove it came from
  Grace's own pages: a same-origin ``Origin`` (when the browser sends one) and the session's
  CSRF token, in the ``X-CSRF-Token`` header (``fetch``) or, for the dashboard's HTML forms,
  the ``csrf_token`` form field, which :func:`require_csrf_form` checks.

Routes read the principal with :data:`PrincipalDep` and record :func:`acting_as` as the actor.
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
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.tokens import ApiToken, Role, looks_like_token

if TYPE_CHECKING:
    from grace.store import Store

__all__ = (
    "CSRF_HEADER",
    "DEFAULT_OPEN_PATHS",
    "OPEN_PRINCIPAL",
    "ROLE_KEY",
    "SESSION_COOKIE",
    "AuthGate",
    "Principal",
    "PrincipalDep",
    "Sessions",
    "TokenBook",
    "acting_as",
    "authorize",
    "declared_roles",
    "get_principal",
    "needs",
    "require_csrf_form",
)

SESSION_COOKIE = "grace_session"
CSRF_HEADER = "x-csrf-token"
DEFAULT_OPEN_PATHS = ("/health", "/metrics")
"""Served without credentials unless ``api.open_paths`` says otherwise."""
DASHBOARD_OPEN_PATHS = ("/login", "/static/*")
"""Always open: the login page and the dashboard's own CSS and JS (nothing secret)."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
        needed = Role.VIEWER if method in _SAFE_METHODS else Role.OPERATOR
        for verb, pattern, role in self._declared():
            if verb == method and pattern.fullmatch(path):
                needed = max(needed, role)
        if principal.role < needed:
            error, hint = _too_low(principal, needed)
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


async def authorize(request: Request) -> None:
    """Every route's first dependency (``FastAPI(dependencies=...)``): 403 unless the principal
    holds the role the matched route needs: what it declares with :func:`needs`, else viewer
    to read and operator to change. Open paths (no principal) pass."""
    principal = request.scope.get("grace.principal")
    if principal is None:
        return
    assert isinstance(principal, Principal)
    route = request.scope.get("route")
    declared = (getattr(route, "openapi_extra", None) or {}).get(ROLE_KEY)
    if declared:
        needed = Role[str(declared).upper()]
    else:
        needed = Role.VIEWER if request.method in _SAFE_METHODS else Role.OPERATOR
    if principal.role < needed:
        error, hint = _too_low(principal, needed)
        raise ApiError(403, error, hint=hint)


def _too_low(principal: Principal, needed: Role) -> tuple[str, str]:
    who = f"token {principal.name!r} is a {principal.role.label}"
    hint = f"use a token with the {needed.label} role (grace token create --role {needed.label})"
    return f"this needs the {needed.label} role; {who}", hint


def declared_roles(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str], Role]]:
    """(method, path pattern, role) for every published operation declaring its role: the
    gate checks these before any route runs, whatever the route's implementation."""
    found = []
    for path, operations in openapi.get("paths", {}).items():
        pattern = re.compile(
            re.sub(
                r"\\\{([^}:]+)(:path)?\\\}",
                lambda m: ".+" if m.group(2) else "[^/]+",
                re.escape(path),
            )
        )
        for method, operation in operations.items():
            declared = operation.get(ROLE_KEY)
            if declared:
                found.append((method.upper(), pattern, Role[str(declared).upper()]))
    return found


async def session_csrf_check(request: Request, principal: Principal, *, form: bool) -> None:
    """Refuse a state-changing request carried by the session cookie unless it proves it came
    from Grace's own pages (same origin, and the session's CSRF token)."""
    if principal.via != "session" or request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if re.sub(r"^https?://", "", origin) != host:
            raise ApiError(403, f"cross-site request refused (Origin {origin})")
    cookie = request.cookies.get(SESSION_COOKIE, "")
    sessions: Sessions = await request.app.state.grace_sessions()
    expected = sessions.csrf(cookie)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and form:
        sent = (await form_fields(request)).get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, expected):
        raise ApiError(
            403,
            "CSRF token missing or wrong",
            hint="reload the page and try again (forms carry the session's csrf_token)",
        )


async def get_principal(request: Request) -> Principal:
    """Who the request acts as (set by :class:`AuthGate`; :data:`OPEN_PRINCIPAL` with auth off).

    A state-changing request carried by the session cookie must also pass the CSRF check
    (``X-CSRF-Token`` header).
    """
    principal = request.scope.get("grace.principal", OPEN_PRINCIPAL)
    assert isinstance(principal, Principal)
    await session_csrf_check(request, principal, form=False)
    return principal


async def require_csrf_form(request: Request) -> Principal:
    """For the dashboard's HTML form posts: the principal, after checking the form's
    ``csrf_token`` field (or the ``X-CSRF-Token`` header)."""
    principal = request.scope.get("grace.principal", OPEN_PRINCIPAL)
    assert isinstance(principal, Principal)
    await session_csrf_check(request, principal, form=True)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def acting_as(principal: Principal, claimed: str | None, field: str) -> str:
    """The actor to record: the token's name; with auth off, what the request says.

    Raises:
        ApiError: 403 when a token claims to be someone else; 422 when auth is off and
            nobody is named.
    """
    claimed = claimed.strip() if claimed else None
    if principal.via == "open":
        if not claimed:
            msg = f"body.{field}: required when API auth is off (the body says who acts)"
            raise ApiError(422, msg, hint=f'send "{field}": "<your name>"')
        return claimed
    if claimed and claimed != principal.name:
        msg = f"{field} {claimed!r} is not this token's holder {principal.name!r}"
        raise ApiError(403, msg, hint=f"leave {field} out: the token's name is recorded")
    return principal.name


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
