"""The live web dashboard: server-rendered pages over the store, refreshed by polling.

Forms: approve and reject a waiting run (``decide``), turn a playbook off and on (``switches``),
press and lift the emergency stop and close a ticket (``controls``), create and expire a
silence (``silences``).

Pages (docs/dashboard.md): ``/`` overview, ``/approvals``, ``/runs/{run_id}``, ``/playbooks``,
``/events``, ``/tickets``, ``/silences``, ``/audit``; each live region polls its fragment under
``/ui/``.
Templates are Jinja2 (autoescaped) in ``templates/``; the CSS and JavaScript in ``static/``
are hand-written (no third-party bundle, no CDN).

:func:`install` adds :data:`router` and the ``/static`` mount to the API app; the API's auth
gate guards the pages like every other route (a browser without a session goes to ``/login``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter

from grace.web import controls, decide, pages, silences, switches

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.staticfiles import StaticFiles

__all__ = ("STATIC_DIR", "install", "router", "static_files")

STATIC_DIR = Path(__file__).parent / "static"
"""The dashboard's CSS and JavaScript (served at ``/static``, open without a login)."""

router = APIRouter(include_in_schema=False)
"""Every page, fragment and form route of the dashboard."""
router.include_router(pages.router)
router.include_router(decide.router)
router.include_router(switches.router)
router.include_router(controls.router)
router.include_router(silences.router)


def static_files() -> StaticFiles:
    """The ``/static`` app: the dashboard's CSS and JavaScript."""
    from starlette.staticfiles import StaticFiles

    return StaticFiles(directory=STATIC_DIR)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: its routes and ``/static``."""
    app.include_router(router)
    app.mount("/static", static_files(), name="static")
