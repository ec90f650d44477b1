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

import hmac
import re
from typing import Annotated, Any

from fastapi import Depends, Request

from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.api._gate import (
    CSRF_HEADER,
    DEFAULT_OPEN_PATHS,
    OPEN_PRINCIPAL,
    ROLE_KEY,
    SAFE_METHODS,
    SESSION_COOKIE,
    AuthGate,
    Principal,
    Sessions,
    TokenBook,
    needs,
    too_low,
)
from grace.tokens import Role

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
        needed = Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
    if principal.role < needed:
        error, hint = too_low(principal, needed)
        raise ApiError(403, error, hint=hint)


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
    if principal.via != "session" or request.method in SAFE_METHODS:
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
