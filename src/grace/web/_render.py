"""Templates, their filters, and what every page shares (who is logged in, the CSRF token).

Jinja2 renders with autoescaping on: everything a page shows from the store (playbook names,
event messages, errors) is escaped, so a ``<script>`` in a log line stays text.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from grace.api._auth import OPEN_PRINCIPAL, SESSION_COOKIE, Principal
from grace.status import format_duration
from grace.tokens import Role

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("NAV", "csrf_token", "engine_of", "principal_of", "render", "render_fragment")

NAV = (
    ("/", "Overview"),
    ("/approvals", "Approvals"),
    ("/playbooks", "Playbooks"),
    ("/events", "Events"),
    ("/tickets", "Tickets"),
    ("/silences", "Silences"),
    ("/audit", "Audit"),
)
"""The navigation bar: (path, label), in display order."""


def _stamp(value: datetime | str | None) -> str:
    """``2026-01-01 12:00:03 UTC`` (``—`` for nothing)."""
    if value is None or value == "":
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


def _ms(value: float | None) -> str:
    return format_duration(None if value is None else value / 1000)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("grace.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["ms"] = _ms
    env.filters["stamp"] = _stamp
    env.filters["iso"] = _iso
    env.globals["nav"] = NAV
    return env


def engine_of(request: Request) -> Engine | None:
    """The engine behind the app (None: the app was built without one)."""
    engine: Engine | None = request.app.state.grace.engine
    return engine


def principal_of(request: Request) -> Principal:
    """Who is looking (:data:`grace.api._auth.OPEN_PRINCIPAL` with auth off)."""
    principal = request.scope.get("grace.principal", OPEN_PRINCIPAL)
    assert isinstance(principal, Principal)
    return principal


async def csrf_token(request: Request) -> str:
    """The session's CSRF token for this page's forms ("" without a session: auth is off, or
    the request came with a bearer token)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    sessions = getattr(request.app.state, "grace_sessions", None)
    if not cookie or sessions is None:
        return ""
    return str((await sessions()).csrf(cookie))


async def _shared(request: Request, now: datetime) -> dict[str, Any]:
    principal = principal_of(request)
    return {
        "request_path": request.url.path,
        "principal": principal,
        "can_decide": principal.via == "open" or principal.role >= Role.APPROVER,
        "can_switch": principal.via == "open" or principal.role >= Role.OPERATOR,
        "csrf": await csrf_token(request),
        "now": now,
    }


async def render(
    request: Request, template: str, *, now: datetime, status: int = 200, **context: Any
) -> HTMLResponse:
    """A whole page (``template`` extends ``base.html``)."""
    shared = await _shared(request, now)
    body = _environment().get_template(template).render(**shared, **context)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


async def render_fragment(
    request: Request, template: str, *, now: datetime, **context: Any
) -> HTMLResponse:
    """A live region's inner HTML, for the page's poller (``static/grace.js``)."""
    shared = await _shared(request, now)
    body = _environment().get_template(template).render(**shared, **context)
    return HTMLResponse(body, headers={**_HEADERS, "Cache-Control": "no-store"})


_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Only Grace's own files: no inline script, no third-party origin.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
