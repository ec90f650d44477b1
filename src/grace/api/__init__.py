"""The HTTP API: an adapter over :class:`grace.ingest.Ingest` and the engine, no business logic.

Built by :func:`create_app`; one router per resource (``routes/``); OpenAPI at ``/docs``.
Nothing in Grace imports this package except the server entry point, so light CLI commands
never load FastAPI; and this package never imports the engine at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from grace.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from grace.config import Settings
    from grace.engine import Engine
    from grace.ingest import Ingest
    from grace.sources.builtin.webhook import WebhookMapping

__all__ = ("DEFAULT_MAX_BODY_BYTES", "create_app", "webhooks_from_settings")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted by default (1 MiB)."""


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
    import re

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

    if webhooks is None:
        webhooks = webhooks_from_settings(settings) if settings is not None else {}
    for name in webhooks:
        if name == "alertmanager" or not re.fullmatch(webhook_routes.NAME_PATTERN, name):
            msg = f"webhook name {name!r} cannot be served at /api/webhooks/{name}"
            hint = "use letters, digits and _ . - (and not 'alertmanager', which is built in)"
            raise ConfigError(msg, hint=hint)
    if max_body_bytes < 1:
        msg = f"max_body_bytes must be at least 1, got {max_body_bytes}"
        raise ConfigError(msg)

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
    _install_auth(app, settings, engine, auth)
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


def _install_auth(
    app: FastAPI, settings: Settings | None, engine: Engine | None, auth: bool | None
) -> None:
    """Put :class:`grace.api._auth.AuthGate` in front of every route (outermost middleware)."""
    from grace.api._auth import AuthGate, Sessions, TokenBook, declared_roles
    from grace.config import ApiSettings

    source = settings if settings is not None else (engine.settings if engine else None)
    api = source.api if source is not None else ApiSettings()
    if not (api.auth if auth is None else auth):
        app.state.grace_tokens = None
        return
    if engine is None:
        msg = "API auth needs the engine's store, which keeps the tokens"
        raise ConfigError(msg, hint="pass create_app(..., engine=engine), or auth=False")
    store = engine.store
    book = TokenBook(store, ttl_s=api.token_cache_s)
    made: list[Sessions] = []

    async def sessions() -> Sessions:
        if not made:
            import anyio.to_thread

            key = await anyio.to_thread.run_sync(store.session_key)
            made.append(Sessions(key, lifetime_s=api.session_hours * 3600))
        return made[0]

    app.state.grace_tokens = book
    app.state.grace_sessions = sessions
    _document_bearer(app, api.open_paths)
    roles: list[list[Any]] = []

    def declared() -> list[Any]:
        if not roles:  # the first request: every route is registered by now
            roles.append(declared_roles(app.openapi()))
        return roles[0]

    app.add_middleware(
        AuthGate,
        tokens=book,
        sessions=sessions,
        open_paths=api.open_paths,
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
