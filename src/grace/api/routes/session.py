"""Dashboard login and logout: a token in, a session cookie out.

``GET /login`` shows the form; ``POST /login`` checks the token and sets the session cookie
(HttpOnly, SameSite=Lax, Secure over HTTPS), then goes to ``next``. The login form is itself
CSRF-protected (a double-submit nonce), so another site cannot log a browser in as someone
else. ``POST /logout`` ends the session. Logins are audited (``session.login``).
"""

from __future__ import annotations

import hmac
import html
import secrets
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grace.api._auth import SESSION_COOKIE, Principal, Sessions, TokenBook, require_csrf_form
from grace.api._forms import form_fields
from grace.audit._chain import AuditDraft

if TYPE_CHECKING:
    from grace.api._deps import ApiState

__all__ = ("LOGIN_COOKIE", "router", "safe_next")

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "grace_login_csrf"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Grace</title>
<link rel="stylesheet" href="/static/grace.css">
</head>
<body class="login">
<main id="main">
<h1>Grace</h1>
<form method="post" action="/login" class="card">
<p>Log in with an API token (<code>grace token create --role viewer --name you</code>).</p>
{error}
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>
"""


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page(request: Request, target: str, error: str | None, status: int) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = _PAGE.format(error=shown, csrf=nonce, next=html.escape(safe_next(target), quote=True))
    response = HTMLResponse(body, status_code=status)
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login")
async def login_page(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/"
) -> HTMLResponse:
    """The login form."""
    return _page(request, next, None, 200)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; on success set the session cookie and go to ``next``."""
    fields = await form_fields(request)
    target = safe_next(fields.get("next"))
    origin = request.headers.get("origin")
    if origin not in (None, "null") and origin.split("://", 1)[-1] != request.headers.get("host"):
        return _page(request, target, "cross-site login refused", 403)
    sent = fields.get("csrf_token", "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _page(request, target, "the form expired: please try again", 403)
    book: TokenBook | None = request.app.state.grace_tokens
    if book is None:  # auth is off: nothing to log in to
        return RedirectResponse(target, status_code=303)
    token = await book.by_secret(fields.get("token", "").strip())
    if token is None:
        return _page(request, target, "that token is unknown, revoked or expired", 401)
    sessions: Sessions = await request.app.state.grace_sessions()
    state: ApiState = request.app.state.grace
    if state.engine is not None:
        draft = AuditDraft(token.name, "session.login", token.id, {"role": token.role.label})
        await anyio.to_thread.run_sync(state.engine.store.append_audit, [draft])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sessions.issue(token),
        max_age=int(sessions.lifetime_s),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(_principal: Annotated[Principal, Depends(require_csrf_form)]) -> Response:
    """End the session (the cookie is cleared) and go back to the login page."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
