"""The HTTP API: an adapter over :class:`grace.ingest.Ingest` and the engine, no business logic.

Built by :func:`create_app`; one router per resource (``routes/``); OpenAPI at ``/docs``.
Nothing in Grace imports this package except the server entry point, so light CLI commands
never load FastAPI; and this package never imports the engine at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from grace.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp

    from grace.api._front import Front
    from grace.api._gate import AuthParts
    from grace.config import Settings
    from grace.engine import Engine
    from grace.ingest import Ingest
    from grace.sources.builtin.webhook import WebhookMapping

__all__ = (
    "DEFAULT_MAX_BODY_BYTES",
    "WEBHOOK_NAME_PATTERN",
    "build_app",
    "create_app",
    "serve_app",
    "webhooks_from_settings",
)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted by default (1 MiB)."""

WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""A generic webhook's name, as served at ``POST /api/webhooks/{name}``."""


def webhooks_from_settings(settings: Settings) -> dict[str, WebhookMapping]:
    """The generic webhooks declared in ``sources:`` (items with ``type: webhook``), by name.

    Raises:
        ConfigError: an item is invalid or two share a name; the message names ``sources[i]``.
    """
    from grace.sources.builtin.webhook import WebhookSourceConfig

    found: dict[str, WebhookMapping] = {}
    for index, raw in enumerate(settings.sources):
        if raw.get("type") != "webhook":
            continue
        where = f"sources[{index}]"
        try:
            config = WebhookSourceConfig.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "?"
            msg = f"{where}: webhook field '{field}': {err['msg']}"
            raise ConfigError(msg, hint="see docs/webhooks.md") from exc
        if config.name in found:
            msg = f"{where}: a webhook named {config.name!r} is already declared"
            raise ConfigError(msg, hint="give each webhook source its own name")
        found[config.name] = config.effective_mapping()
    return found


def create_app(
    ingest: Ingest,
    *,
    settings: Settings | None = None,
    webhooks: Mapping[str, WebhookMapping] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    engine: Engine | None = None,
    auth: bool | None = None,
) -> FastAPI:
    """The ASGI application: ingestion (events, webhooks, heartbeats) and governance.

    Args:
        ingest: where events go (the running pipeline; a fake in tests).
        settings: the settings; its ``sources:`` declare the generic webhooks when ``webhooks``
            is not given.
        webhooks: generic webhook mappings by name (``POST /api/webhooks/{name}``); replaces
            those declared in ``settings``.
        max_body_bytes: larger request bodies are refused with 413.
        engine: the engine behind approvals, run requests and the emergency stop
            (docs/api-governance.md); without one, those routes answer 503.
        auth: require tokens (docs/api-auth.md); default ``settings.api.auth`` (on). Needs
            ``engine``, whose store keeps the tokens.

    Raises:
        ConfigError: a webhook is misdeclared, or its name is reserved or not URL-safe; or
            auth is on without an engine.
    """
    webhooks = _checked(settings, webhooks, max_body_bytes)
    from grace.api._gate import auth_parts

    parts = auth_parts(settings, engine, auth)
    return _builder(ingest, settings, webhooks, max_body_bytes, engine, parts)()


def serve_app(
    ingest: Ingest,
    *,
    settings: Settings,
    engine: Engine,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Front:
    """The ASGI app ``grace serve`` runs: :class:`~grace.api._front.Front`, which answers
    ``GET /health``, ``POST /api/events`` and ``GET /metrics`` itself and builds the app :func:`create_app`
    would build at the first request for any other route. Imports no FastAPI.

    Raises:
        ConfigError: as :func:`create_app` (checked now, not at that first request).
    """
    from grace.api._errors import BodyLimit, RefuseNul
    from grace.api._front import Front, OwnRoutes
    from grace.api._gate import AuthGate, auth_parts
    from grace.api._intake import EventsIntake

    webhooks = _checked(settings, None, max_body_bytes)
    parts = auth_parts(settings, engine, None)
    # The same stack as the full app's, in the same order (outermost last).
    own: ASGIApp = EventsIntake(OwnRoutes(ingest, engine), ingest=ingest)
    own = BodyLimit(own, max_bytes=max_body_bytes)
    own = RefuseNul(own)
    if parts is not None:
        # No route of these declares a role (a test checks it in the OpenAPI): the method's
        # default applies, viewer for GET, operator for POST /api/events.
        own = AuthGate(
            own,
            tokens=parts.tokens,
            sessions=parts.sessions,
            open_paths=parts.open_paths,
            declared=tuple,
        )
    return Front(own=own, build=_builder(ingest, settings, webhooks, max_body_bytes, engine, parts))


def _builder(
    ingest: Ingest,
    settings: Settings | None,
    webhooks: Mapping[str, WebhookMapping],
    max_body_bytes: int,
    engine: Engine | None,
    parts: AuthParts | None,
) -> Callable[[], FastAPI]:
    """:func:`build_app` over these checked parts, to call now or later."""
    return partial(
        build_app,
        ingest,
        settings=settings,
        webhooks=webhooks,
        max_body_bytes=max_body_bytes,
        engine=engine,
        parts=parts,
    )


def _checked(
    settings: Settings | None, webhooks: Mapping[str, WebhookMapping] | None, max_body_bytes: int
) -> dict[str, WebhookMapping]:
    """The webhooks to serve, after checking them and the body limit (:class:`ConfigError`)."""
    import re

    if webhooks is None:
        webhooks = webhooks_from_settings(settings) if settings is not None else {}
    for name in webhooks:
        if name == "alertmanager" or not re.fullmatch(WEBHOOK_NAME_PATTERN, name):
            msg = f"webhook name {name!r} cannot be served at /api/webhooks/{name}"
            hint = "use letters, digits and _ . - (and not 'alertmanager', which is built in)"
            raise ConfigError(msg, hint=hint)
    if max_body_bytes < 1:
        msg = f"max_body_bytes must be at least 1, got {max_body_bytes}"
        raise ConfigError(msg)
    return dict(webhooks)


def build_app(
    ingest: Ingest,
    *,
    settings: Settings | None,
    webhooks: Mapping[str, WebhookMapping],
    max_body_bytes: int,
    engine: Engine | None,
    parts: AuthParts | None,
) -> FastAPI:
    """The FastAPI app from checked parts (:func:`create_app` checks them first); ``parts``:
    the tokens and sessions its auth gate uses, or None for no auth."""
    from fastapi import Depends, FastAPI

    from grace import __version__
    from grace.api._auth import authorize
    from grace.api._deps import ApiState
    from grace.api._errors import BodyLimit, RefuseNul, install_error_handlers
    from grace.api.routes import (
        agent_runs,
        audit,
        cycles,
        event_list,
        events,
        governance,
        health,
        heartbeats,
        learning,
        metrics,
        playbooks,
        runs,
        session,
        silences,
        startup,
        tickets,
    )
    from grace.api.routes import webhooks as webhook_routes

    app = FastAPI(
        title="Grace",
        version=__version__,
        summary=(
            "Autonomous recovery engine: ingestion (events, webhooks, heartbeats) and "
            "governance (approvals, run requests, emergency stop)."
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        dependencies=[Depends(authorize)],
    )
    app.state.grace = ApiState(
        ingest=ingest,
        settings=settings,
        webhooks=dict(webhooks),
        max_body_bytes=max_body_bytes,
        engine=engine,
    )
    install_error_handlers(app)
    app.add_middleware(events.EventsIntake)  # innermost: behind auth, NUL check, body limit
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(RefuseNul)
    _install_auth(app, parts)
    for module in (
        health,
        events,
        event_list,
        webhook_routes,
        heartbeats,
        governance,
        runs,
        agent_runs,
        playbooks,
        tickets,
        audit,
        silences,
        startup,
        learning,
        cycles,
        metrics,
        session,
    ):
        app.include_router(module.router)
    from grace import web

    web.install(app)  # the dashboard's pages and /static (docs/dashboard.md)
    return app


def _install_auth(app: FastAPI, parts: AuthParts | None) -> None:
    """Put :class:`grace.api._gate.AuthGate` in front of every route (outermost middleware)."""
    from grace.api._auth import AuthGate, declared_roles

    if parts is None:
        app.state.grace_tokens = None
        return
    app.state.grace_tokens = parts.tokens
    app.state.grace_sessions = parts.sessions
    _document_bearer(app, parts.open_paths)
    roles: list[list[Any]] = []

    def declared() -> list[Any]:
        if not roles:  # the first request: every route is registered by now
            roles.append(declared_roles(app.openapi()))
        return roles[0]

    app.add_middleware(
        AuthGate,
        tokens=parts.tokens,
        sessions=parts.sessions,
        open_paths=parts.open_paths,
        declared=declared,
    )


def _document_bearer(app: FastAPI, open_paths: tuple[str, ...]) -> None:
    """Publish the bearer scheme in the OpenAPI document (``/docs`` gets an Authorize button)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Grace API token: grace token create --role ROLE --name NAME",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if path in open_paths:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
