"""Press the emergency stop, lift it, and close a ticket from the dashboard: HTML form posts,
CSRF-checked, recorded under the logged-in token's name and audited by the store.

The rights are the JSON API's, route for route:

- ``POST /emergency-stop`` (on the overview) is ``POST /api/emergency-stop``: operator or
  above. Pressing the stop must be easy, so it asks only for a reason (required: it is what
  everyone else reads while remediation is halted).
- ``POST /emergency-stop/resume`` is ``DELETE /api/emergency-stop``: admin only.
- ``POST /tickets/{ticket_id}/close`` is ``POST /api/tickets/{id}/close``: operator or above,
  with an optional note on what was done.

A refusal (no reason, the stop already in force or not in force, the ticket already closed or
unknown) re-renders the page with the message and its status; a role too low is the API's 403
before the route runs. With API auth off the forms ask who acts (``by``), as the JSON API does.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grace.api._auth import Principal, acting_as, needs, require_csrf_form
from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.api.routes.runs import call_engine
from grace.errors import RunError
from grace.tokens import Role
from grace.web._render import engine_of
from grace.web.pages import overview_view, tickets_view

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("router",)

router = APIRouter(include_in_schema=False)

TicketId = Annotated[str, Path(min_length=1, max_length=64)]
FormPrincipal = Annotated[Principal, Depends(require_csrf_form)]


def _actor(principal: Principal, fields: dict[str, str]) -> str:
    """Who acts: the token's name; with auth off, the form's ``by`` (required then)."""
    return acting_as(principal, fields.get("by") if principal.via == "open" else None, "by")


def _describe(stop: dict[str, Any]) -> str:
    """``by olga at 2026-01-01 12:00:00 UTC: disk filling`` for the stop in force."""
    at = stop.get("at")
    when = (
        datetime.fromisoformat(at).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(at, str)
        else "an unknown time"
    )
    why = stop.get("reason", "")
    return f"by {stop.get('by', '?')} at {when}" + (f": {why}" if why else "")


def _halt(engine: Engine, *, by: str, reason: str) -> dict[str, Any] | None:
    """Set the stop, unless one is already in force: then leave it (its who and why stay the
    first operator's) and return it."""
    current = engine.store.emergency_stop()
    if current is not None:
        return current
    engine.store.set_emergency_stop(by=by, reason=reason)
    return None


@router.post("/emergency-stop", response_class=HTMLResponse)
async def stop(request: Request, principal: FormPrincipal) -> Response:
    """Stop all remediation (operator or above; the form's ``reason`` is required): queued runs
    are aborted, running ones cancel their step and recover, new runs are refused."""
    engine = engine_of(request)
    if engine is None:
        return await overview_view(request, status=503)
    fields = await form_fields(request)
    reason = fields.get("reason", "").strip()
    if not reason:
        error = (
            "Stopping all remediation needs a reason: say why in the field next to the button "
            "(everyone sees it until an admin resumes)."
        )
        return await overview_view(request, error=error, status=422)
    try:
        by = _actor(principal, fields)
        already = await call_engine(partial(_halt, engine, by=by, reason=reason))
    except ApiError as exc:
        return await overview_view(request, error=exc.error, status=exc.status)
    if already is not None:
        error = f"The emergency stop is already in force ({_describe(already)}); nothing changed."
        return await overview_view(request, error=error, status=409)
    return RedirectResponse("/#emergency-stop", status_code=303)


@router.post("/emergency-stop/resume", response_class=HTMLResponse, openapi_extra=needs(Role.ADMIN))
async def resume(request: Request, principal: FormPrincipal) -> Response:
    """Lift the emergency stop (admin only, as ``DELETE /api/emergency-stop``); the form's
    ``reason`` is optional and recorded."""
    engine = engine_of(request)
    if engine is None:
        return await overview_view(request, status=503)
    fields = await form_fields(request)
    reason = fields.get("reason", "").strip()
    try:
        by = _actor(principal, fields)
        lifted = await call_engine(partial(engine.store.clear_emergency_stop, by=by, reason=reason))
    except ApiError as exc:
        return await overview_view(request, error=exc.error, status=exc.status)
    if not lifted:
        error = "The emergency stop was not in force (someone resumed already): nothing changed."
        return await overview_view(request, error=error, status=409)
    return RedirectResponse("/#emergency-stop", status_code=303)


@router.post("/tickets/{ticket_id}/close", response_class=HTMLResponse)
async def close_ticket(request: Request, principal: FormPrincipal, ticket_id: TicketId) -> Response:
    """Close an open ticket (operator or above); the form's ``reason`` (what was done) is
    optional and recorded in the audit log."""
    engine = engine_of(request)
    if engine is None:
        return await tickets_view(request, status=503)
    fields = await form_fields(request)
    note = fields.get("reason", "").strip()
    try:
        by = _actor(principal, fields)
        await anyio.to_thread.run_sync(
            partial(engine.store.close_ticket, ticket_id, by=by, reason=note)
        )
    except ApiError as exc:
        return await tickets_view(request, error=exc.error, status=exc.status)
    except RunError as exc:
        # The store's two refusals, told apart as POST /api/tickets/{id}/close tells them.
        if str(exc).startswith("no ticket"):
            return await tickets_view(request, error=f"{exc}: nothing closed.", status=404)
        error = f"{exc}: nothing to do (it is listed under Recently closed)."
        return await tickets_view(request, error=error, status=409)
    return RedirectResponse(f"/tickets#ticket-{quote(ticket_id, safe='')}", status_code=303)
