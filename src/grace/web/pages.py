"""The dashboard's pages, and the fragments their live regions poll (``/ui/...``).

Every page is a whole HTML document that works without JavaScript; ``static/grace.js`` then
re-fetches each live region's fragment every few seconds and swaps it in when it changed.
A page and its fragment render the same template, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from grace.api._errors import ApiError
from grace.api.routes.runs import call_engine
from grace.web import _reads
from grace.web._render import engine_of, render, render_fragment

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("overview_view", "playbooks_view", "router", "run_page", "tickets_view")

router = APIRouter(include_in_schema=False)

RunId = Annotated[str, Path(min_length=1, max_length=64)]
Builder = Callable[["Engine"], Awaitable[dict[str, Any]]]

FLASH = {
    "approved": "You approved this run.",
    "rejected": "You rejected this run.",
}


async def _no_engine(request: Request) -> HTMLResponse:
    from datetime import UTC, datetime

    return await render(
        request,
        "error.html",
        now=datetime.now(UTC),
        status=503,
        title="No engine",
        message="This server has no engine: serve the dashboard with 'grace serve'.",
    )


async def _page(request: Request, template: str, build: Builder) -> HTMLResponse:
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    context = await build(engine)
    return await render(request, template, now=engine.clock.now(), **context)


async def _fragment(request: Request, template: str, build: Builder) -> HTMLResponse:
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    context = await build(engine)
    return await render_fragment(request, template, now=engine.clock.now(), **context)


# -- overview -------------------------------------------------------------------------------


async def _overview(engine: Engine, *, verify: bool = False) -> dict[str, Any]:
    report, runner = await call_engine(partial(_reads.overview, engine, verify=verify))
    return {
        "report": report,
        "runner": runner,
        "loaded": len(engine.playbooks),
        "rejected": len({p.file for e in engine.playbook_errors for p in e.problems}),
    }


async def overview_view(
    request: Request, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The overview page, optionally with an error (a refused emergency stop or resume)."""
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    context = await _overview(engine, verify=True)
    context["verified"] = context["report"].audit
    context["verified_at"] = context["report"].generated_at
    now = engine.clock.now()
    return await render(request, "overview.html", now=now, status=status, error=error, **context)


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> HTMLResponse:
    """Boot status, runs, approvals, health, issues and what to do: ``grace status``, live;
    the emergency stop's state, with its stop and resume forms."""
    return await overview_view(request)


@router.get("/ui/overview", response_class=HTMLResponse)
async def overview_fragment(request: Request) -> HTMLResponse:
    """The overview's live region (the audit chain is verified on page load, not per poll)."""
    return await _fragment(request, "_overview.html", _overview)


# -- approvals ------------------------------------------------------------------------------


async def _approvals(engine: Engine) -> dict[str, Any]:
    return {"runs": await call_engine(partial(_reads.pending, engine))}


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(request: Request) -> HTMLResponse:
    """Runs waiting on a human, oldest first, with approve and reject forms."""
    return await _page(request, "approvals.html", _approvals)


@router.get("/ui/approvals", response_class=HTMLResponse)
async def approvals_fragment(request: Request) -> HTMLResponse:
    """The approvals list (live)."""
    return await _fragment(request, "_approvals.html", _approvals)


# -- one run --------------------------------------------------------------------------------


async def run_page(
    request: Request,
    run_id: str,
    *,
    error: str | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The run page, optionally with an error (a refused verdict) or a confirmation."""
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    now = engine.clock.now()
    try:
        view = await call_engine(partial(_reads.run_view, engine, run_id), lookup=True)
    except ApiError as exc:
        return await render(
            request,
            "error.html",
            now=now,
            status=exc.status,
            title="Run not found" if exc.status == 404 else "Run unavailable",
            message=exc.error,
        )
    return await render(
        request, "run.html", now=now, status=status, view=view, error=error, flash=flash
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_detail(request: Request, run_id: RunId, done: str | None = None) -> HTMLResponse:
    """A run: its status, a timeline of its steps with their durations, its verdicts, and
    (while it waits) the approve and reject forms."""
    return await run_page(request, run_id, flash=FLASH.get(done or ""))


@router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
async def run_fragment(request: Request, run_id: RunId) -> HTMLResponse:
    """The run's live region: status, timeline, verdicts (polled until the run ends)."""
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    view = await call_engine(partial(_reads.run_view, engine, run_id), lookup=True)
    return await render_fragment(request, "_run.html", now=engine.clock.now(), view=view)


# -- playbooks, events, tickets, audit ------------------------------------------------------


async def _playbooks(engine: Engine) -> dict[str, Any]:
    rows, rejected = await call_engine(partial(_reads.playbook_rows, engine))
    return {"rows": rows, "rejected": rejected}


async def playbooks_view(
    request: Request, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The playbooks page, optionally with an error (a refused switch)."""
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    context = await _playbooks(engine)
    now = engine.clock.now()
    return await render(request, "playbooks.html", now=now, status=status, error=error, **context)


@router.get("/playbooks", response_class=HTMLResponse)
async def playbooks_page(request: Request) -> HTMLResponse:
    """Loaded playbooks with their run statistics and switches, and the files that failed to
    load."""
    return await playbooks_view(request)


@router.get("/ui/playbooks", response_class=HTMLResponse)
async def playbooks_fragment(request: Request) -> HTMLResponse:
    """The playbooks table (live)."""
    return await _fragment(request, "_playbooks.html", _playbooks)


async def _events(engine: Engine) -> dict[str, Any]:
    rows, total = await call_engine(partial(_reads.event_rows, engine))
    return {"rows": rows, "total": total}


@router.get("/events", response_class=HTMLResponse)
async def events_page(request: Request) -> HTMLResponse:
    """The latest events received, newest first, each with the run it started (if any)."""
    return await _page(request, "events.html", _events)


@router.get("/ui/events", response_class=HTMLResponse)
async def events_fragment(request: Request) -> HTMLResponse:
    """The events list (live)."""
    return await _fragment(request, "_events.html", _events)


async def _tickets(engine: Engine) -> dict[str, Any]:
    opened, closed = await call_engine(partial(_reads.tickets, engine))
    return {"opened": opened, "closed": closed}


async def tickets_view(
    request: Request, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The tickets page, optionally with an error (a refused close)."""
    engine = engine_of(request)
    if engine is None:
        return await _no_engine(request)
    context = await _tickets(engine)
    now = engine.clock.now()
    return await render(request, "tickets.html", now=now, status=status, error=error, **context)


@router.get("/tickets", response_class=HTMLResponse)
async def tickets_page(request: Request) -> HTMLResponse:
    """Open tickets, each with its close form, then the latest closed ones."""
    return await tickets_view(request)


@router.get("/ui/tickets", response_class=HTMLResponse)
async def tickets_fragment(request: Request) -> HTMLResponse:
    """The tickets lists (live)."""
    return await _fragment(request, "_tickets.html", _tickets)


async def _audit(engine: Engine) -> dict[str, Any]:
    entries, total = await call_engine(partial(_reads.audit_entries, engine))
    return {"entries": entries, "total": total}


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> HTMLResponse:
    """The chain verified now (hash links and signed checkpoints), and the latest entries."""

    async def build(engine: Engine) -> dict[str, Any]:
        context = await _audit(engine)
        context["check"] = await call_engine(partial(_reads.verify_audit, engine))
        return context

    return await _page(request, "audit.html", build)


@router.get("/ui/audit", response_class=HTMLResponse)
async def audit_fragment(request: Request) -> HTMLResponse:
    """The latest entries (live)."""
    return await _fragment(request, "_audit.html", _audit)
