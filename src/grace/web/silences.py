"""The silences page: what is muted now and what was lately, a form to silence more, and a
button to end a silence early.

The rights are the JSON API's, route for route:

- ``GET /silences`` (and its live fragment ``/ui/silences``) is ``GET /api/silences``: viewer.
- ``POST /silences`` is ``POST /api/silences``: operator or above. The form's fields are the
  API's body (``matchers``, one per line; ``duration``; ``starts_at``; ``ends_at``;
  ``comment``; ``author`` with auth off) and go through the API's own route function, so the
  checks, defaults (one hour), ids, the audit entry (``silence.created``) and the refusals
  are the API's exactly. A refusal re-renders the page with the message, the faulty field
  marked, and what was typed kept.
- ``POST /silences/{id}/expire`` is ``DELETE /api/silences/{id}``: operator or above; a
  silence that is unknown or already over is a 404 with a message on the page.

Every post is CSRF-checked (:func:`grace.api._auth.require_csrf_form`) and recorded under the
logged-in token's name; with API auth off the forms ask who acts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grace.api._auth import Principal, acting_as, require_csrf_form
from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.api.routes import silences as api
from grace.api.routes.runs import call_engine
from grace.durations import format_duration
from grace.web._render import engine_of, render, render_fragment
from grace.web.pages import overview_view

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("router", "silences_view")

router = APIRouter(include_in_schema=False)

SilenceId = Annotated[str, Path(min_length=1, max_length=64)]
FormPrincipal = Annotated[Principal, Depends(require_csrf_form)]

FIELDS = ("matchers", "duration", "starts_at", "ends_at", "comment", "author")
"""The create form's fields: ``POST /api/silences``'s body, named alike."""

RECENT = 20
"""How many expired silences the page lists, the latest to end first."""

FLASH = {
    "created": "Silence created: matching diagnoses are muted until it ends.",
    "expired": "Silence expired: matching diagnoses act again.",
}


def _span(left: timedelta) -> str:
    """``1h30m``: how long, to the second, as the silence docs and the CLI write it."""
    return format_duration(max(0, round(left.total_seconds())))


def _row(silence: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A silence (``Silence.to_dict()`` form) as the page shows it, with its state then."""
    starts = datetime.fromisoformat(silence["starts_at"])
    ends = datetime.fromisoformat(silence["ends_at"])
    state = "pending" if starts > now else "active" if ends > now else "expired"
    return {
        **silence,
        "starts": starts,
        "ends": ends,
        "state": state,
        "left": _span(ends - now) if state != "expired" else None,
        "until_start": _span(starts - now) if state == "pending" else None,
    }


async def _silences(engine: Engine) -> dict[str, Any]:
    rows = await call_engine(engine.store.silences)
    now = engine.clock.now()
    every = [_row(s, now) for s in rows]
    current = sorted((r for r in every if r["state"] != "expired"), key=lambda r: r["ends"])
    ended = sorted((r for r in every if r["state"] == "expired"), key=lambda r: r["ends"])
    return {"current": current, "expired": ended[::-1][:RECENT], "expired_total": len(ended)}


async def silences_view(
    request: Request,
    *,
    error: str | None = None,
    field: str | None = None,
    form: dict[str, str] | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The silences page, optionally with an error (``field`` names the faulty form field,
    ``form`` is what was typed) or a confirmation."""
    engine = engine_of(request)
    if engine is None:
        return await overview_view(request, status=503)  # the "no engine" page
    context = await _silences(engine)
    typed = {name: (form or {}).get(name, "") for name in FIELDS}
    return await render(
        request,
        "silences.html",
        now=engine.clock.now(),
        status=status,
        error=error,
        field=field,
        form=typed,
        flash=flash,
        **context,
    )


@router.get("/silences", response_class=HTMLResponse)
async def silences_page(request: Request, done: str | None = None) -> HTMLResponse:
    """Current silences (active and pending) with time left and an Expire button each, the
    latest expired ones, and the New silence form."""
    return await silences_view(request, flash=FLASH.get(done or ""))


@router.get("/ui/silences", response_class=HTMLResponse)
async def silences_fragment(request: Request) -> HTMLResponse:
    """The silences lists (live)."""
    engine = engine_of(request)
    if engine is None:
        return await silences_view(request)
    context = await _silences(engine)
    return await render_fragment(request, "_silences.html", now=engine.clock.now(), **context)


def _body(fields: dict[str, str], principal: Principal) -> dict[str, Any]:
    """``POST /api/silences``'s body from the form: one matcher per line; blank fields left
    out, so the API's defaults and its "Field required" apply."""
    body: dict[str, Any] = {}
    matchers = [line.strip() for line in fields.get("matchers", "").splitlines()]
    if any(matchers):
        body["matchers"] = [m for m in matchers if m]
    for name in FIELDS[1:]:
        value = fields.get(name, "").strip()
        if value and (name != "author" or principal.via == "open"):
            body[name] = value
    return body


def _faulty(message: str) -> str | None:
    """The form field a refusal of ``POST /api/silences`` is about."""
    named = re.match(r"body\.(\w+)", message)
    if named and named.group(1) in FIELDS:
        return named.group(1)
    for name in ("duration", "ends_at", "starts_at", "comment", "author"):
        if name in message:
            return name
    return "matchers" if "matcher" in message else None


@router.post("/silences", response_class=HTMLResponse)
async def create(request: Request, principal: FormPrincipal) -> Response:
    """Create a silence from the form, through ``POST /api/silences``'s own code."""
    engine = engine_of(request)
    if engine is None:
        return await silences_view(request, status=503)
    fields = await form_fields(request)
    try:
        made = await api.add(engine, principal, _body(fields, principal))
    except ApiError as exc:
        text = re.sub(r"^body\.", "", exc.error)
        return await silences_view(
            request,
            error=f"The silence was not created: {text}",
            field=_faulty(exc.error),
            form=fields,
            status=exc.status,
        )
    target = f"/silences?done=created#sil-{quote(made.id, safe='')}"
    return RedirectResponse(target, status_code=303)


@router.post("/silences/{silence_id}/expire", response_class=HTMLResponse)
async def expire(request: Request, principal: FormPrincipal, silence_id: SilenceId) -> Response:
    """End a silence now (``DELETE /api/silences/{id}``); recorded as ``silence.expired``."""
    engine = engine_of(request)
    if engine is None:
        return await silences_view(request, status=503)
    fields = await form_fields(request)
    try:
        by = acting_as(principal, fields.get("by") if principal.via == "open" else None, "by")
        ended = await call_engine(partial(engine.store.expire_silence, silence_id, by=by))
    except ApiError as exc:
        return await silences_view(request, error=exc.error, status=exc.status)
    if not ended:
        error = (
            f"No silence {silence_id!r} is in force (it ended, someone expired it already, or "
            "the id is wrong): nothing changed."
        )
        return await silences_view(request, error=error, status=404)
    return RedirectResponse("/silences?done=expired", status_code=303)
