"""Approve and reject from the dashboard: plain HTML form posts, CSRF-checked, approver only.

The verdict is recorded under the logged-in token's name, exactly as
``POST /api/approvals/{run_id}/approve`` records it. A refusal (four eyes, already decided,
expired…) is shown on the run page with the engine's message, never swallowed.

With API auth off there is no login: the form then asks who decides (the ``approver`` field),
as the JSON API asks for it in its body.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grace.api._auth import Principal, acting_as, needs, require_csrf_form
from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.api.routes.runs import call_engine
from grace.api.routes.session import safe_next
from grace.tokens import Role
from grace.web._render import engine_of
from grace.web.pages import run_page

__all__ = ("router",)

router = APIRouter(include_in_schema=False)

RunId = Annotated[str, Path(min_length=1, max_length=64)]
FormPrincipal = Annotated[Principal, Depends(require_csrf_form)]


def _back(fields: dict[str, str], run_id: str, done: str) -> str:
    """Where to go after a verdict: the approvals list when the form was there, else the run."""
    if fields.get("back") == "/approvals":
        return safe_next("/approvals")
    return safe_next(f"/runs/{run_id}?done={done}")


async def _decide(
    request: Request, principal: Principal, run_id: str, *, approve: bool
) -> Response:
    engine = engine_of(request)
    if engine is None:
        return await run_page(request, run_id, status=503)
    fields = await form_fields(request)
    reason = fields.get("reason", "").strip()
    if not approve and not reason:
        error = "a rejection needs a reason (the requester reads it)"
        return await run_page(request, run_id, error=error, status=422)
    try:
        claimed = fields.get("approver") if principal.via == "open" else None
        who = acting_as(principal, claimed, "approver")
        run = await call_engine(partial(engine.store.get_run, run_id), lookup=True)
        if approve:
            await call_engine(
                partial(
                    engine.store.approve_run,
                    run.id,
                    approver=who,
                    reason=reason,
                    override_window=fields.get("override_window") == "on",
                )
            )
        else:
            await call_engine(partial(engine.store.reject_run, run.id, by=who, reason=reason))
    except ApiError as exc:
        if exc.status == 404:
            return await run_page(request, run_id, status=404)
        return await run_page(request, run_id, error=exc.error, status=exc.status)
    target = _back(fields, run.id, "approved" if approve else "rejected")
    return RedirectResponse(target, status_code=303)


@router.post(
    "/runs/{run_id}/approve", response_class=HTMLResponse, openapi_extra=needs(Role.APPROVER)
)
async def approve(request: Request, principal: FormPrincipal, run_id: RunId) -> Response:
    """Approve the run (the form's ``reason`` and ``override_window`` are optional)."""
    return await _decide(request, principal, run_id, approve=True)


@router.post(
    "/runs/{run_id}/reject", response_class=HTMLResponse, openapi_extra=needs(Role.APPROVER)
)
async def reject(request: Request, principal: FormPrincipal, run_id: RunId) -> Response:
    """Reject the run (the form's ``reason`` is required)."""
    return await _decide(request, principal, run_id, approve=False)
