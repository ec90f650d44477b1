"""``grace token create|list|revoke``: API tokens for the HTTP API and the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from grace.cli._app import JsonOpt, _console, _state, app
from grace.cli._govern import AsOpt, _who
from grace.cli._state import emit_json

__all__ = ("token_app",)

token_app = typer.Typer(
    help="API tokens (roles: viewer, operator, approver, admin).", no_args_is_help=True
)
app.add_typer(token_app, name="token")


def _json(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.label,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat(),
        "last_used_at": None if token.last_used_at is None else token.last_used_at.isoformat(),
    }


@token_app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="viewer, operator, approver or admin.")],
    name: Annotated[
        str, typer.Option("--name", help="Who or what holds it (recorded as the actor).")
    ],
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime, e.g. 90d or 12h (default: none).")
    ] = None,
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token and print its secret once (only its hash is kept)."""
    from grace.durations import parse_duration
    from grace.errors import ConfigError
    from grace.tokens import parse_role

    parsed = parse_role(role)
    try:
        lifetime = None if expires is None else parse_duration(expires, where="--expires")
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --expires 90d") from None
    with _state(ctx).engine() as engine:
        now = engine.clock.now()
        until = None if lifetime is None else now + timedelta(seconds=lifetime)
        token, secret = engine.store.create_token(
            name=name, role=parsed, by=_who(who), expires_at=until
        )
    if json_out:
        emit_json({**_json(token), "secret": secret})
        return
    console = _console()
    console.print(f"token {token.id} '{token.name}' ({token.role.label}) created")
    console.print(secret, soft_wrap=True, highlight=False, markup=False)
    console.print(
        "[dim]shown once: store it now. Use it as 'Authorization: Bearer <token>' "
        "or to log in to the dashboard.[/dim]",
        markup=True,
    )


@token_app.command("list")
def list_tokens(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from grace.store import open_store

    settings = _state(ctx).settings()
    store = open_store(settings.effective_database_url)
    try:
        tokens = store.list_tokens(include_revoked=all_)
    finally:
        store.close()
    if json_out:
        emit_json([_json(t) for t in tokens])
        return
    if not tokens:
        _console().print("no tokens: create one with grace token create --role admin --name NAME")
        return
    table = Table("id", "name", "role", "prefix", "created", "last used", "expires", "revoked")
    for t in tokens:
        table.add_row(
            t.id,
            t.name,
            t.role.label,
            t.prefix + "…",
            f"{t.created_at:%Y-%m-%d %H:%M} by {t.created_by}",
            "-" if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
            "-" if t.expires_at is None else f"{t.expires_at:%Y-%m-%d %H:%M}",
            "-" if t.revoked_at is None else f"{t.revoked_at:%Y-%m-%d %H:%M}",
        )
    _console().print(table)


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token's id or name.")],
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a token: refused at once here, within api.token_cache_s by running servers."""
    with _state(ctx).engine() as engine:
        revoked = engine.store.revoke_token(token, by=_who(who))
    if json_out:
        emit_json(_json(revoked))
    else:
        _console().print(f"token {revoked.id} '{revoked.name}' revoked")
