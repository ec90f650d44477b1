"""Turn a playbook off and on from the playbooks page: HTML form posts, CSRF-checked, operator
or above (the same right as ``POST /api/playbooks/{name}/disable`` and ``…/enable``).

A disabled playbook starts nothing, automatic or manual, until it is enabled; who switched it
and why is recorded under the logged-in token's name and audited.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grace.api._auth import Principal, acting_as, require_csrf_form
from grace.api._errors import ApiError
from grace.api._forms import form_fields
from grace.api.routes.runs import call_engine
from grace.web._render import engine_of
from grace.web.pages import playbooks_view

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("router",)

router = APIRouter(include_in_schema=False)

Name = Annotated[str, Path(min_length=1, max_length=200)]
FormPrincipal = Annotated[Principal, Depends(require_csrf_form)]


def _switch(engine: Engine, name: str, *, off: bool, by: str, reason: str) -> bool:
    engine.playbook(name)  # an unknown name is a 404 with a did-you-mean hint
    if off:
        return engine.store.disable_playbook(name, by=by, reason=reason)
    return engine.store.enable_playbook(name, by=by, reason=reason)


async def _flip(request: Request, principal: Principal, name: str, *, off: bool) -> Response:
    engine = engine_of(request)
    if engine is None:
        return await playbooks_view(request, status=503)
    fields = await form_fields(request)
    reason = fields.get("reason", "").strip()
    if off and not reason:
        error = f"disabling {name} needs a reason (it is shown to whoever finds it off)"
        return await playbooks_view(request, error=error, status=422)
    try:
        by = acting_as(principal, fields.get("by") if principal.via == "open" else None, "by")
        await call_engine(partial(_switch, engine, name, off=off, by=by, reason=reason))
    except ApiError as exc:
        return await playbooks_view(request, error=exc.error, status=exc.status)
    return RedirectResponse(f"/playbooks#pb-{name}", status_code=303)


@router.post("/playbooks/{name}/disable", response_class=HTMLResponse)
async def disable(request: Request, principal: FormPrincipal, name: Name) -> Response:
    """Turn the playbook off (the form's ``reason`` is required)."""
    return await _flip(request, principal, name, off=True)


@router.post("/playbooks/{name}/enable", response_class=HTMLResponse)
async def enable(request: Request, principal: FormPrincipal, name: Name) -> Response:
    """Turn the playbook on again."""
    return await _flip(request, principal, name, off=False)
