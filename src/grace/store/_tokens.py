"""API token records: create, look up by hash, list, revoke; and the dashboard's session key.

Secrets never reach the database: :mod:`grace.tokens` makes them and hashes them. Creating
and revoking a token are audited (``token.created`` / ``token.revoked``, with the token's
name and role, never its secret).
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from grace.audit._chain import AuditDraft
from grace.errors import ConfigError
from grace.store._convert import aware, utc
from grace.store._reads import Reads
from grace.store._tables import api_tokens as _tokens
from grace.store._tables import controls as _controls
from grace.tokens import ApiToken, Role, hash_token, new_token

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from grace.types import Clock, IdFactory

__all__ = ("TokenRecords",)

SESSION_KEY = "session_key"
"""The ``controls`` row holding the key that signs dashboard session cookies."""


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role[row.role.upper()],
        prefix=row.prefix,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        expires_at=aware(row.expires_at),
        revoked_at=aware(row.revoked_at),
        last_used_at=aware(row.last_used_at),
    )


class TokenRecords(Reads):
    """The store's API-token side (mixed into :class:`grace.store.Store`)."""

    engine: Engine
    clock: Clock
    ids: IdFactory

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

    def create_token(
        self, *, name: str, role: Role, by: str, expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """A new token and its secret (shown once: only its hash is kept).

        Raises:
            ConfigError: the name is empty or a usable token already has it.
        """
        name = name.strip()
        if not name or len(name) > 200:
            msg = f"token name must be 1-200 characters, got {name!r}"
            raise ConfigError(msg, hint="name the person or system that will hold it")
        secret = new_token()
        with self.transaction() as tx:
            clash = tx.conn.execute(
                select(_tokens.c.id).where(
                    _tokens.c.name == name,
                    _tokens.c.revoked_at.is_(None),
                    (_tokens.c.expires_at.is_(None)) | (_tokens.c.expires_at > tx.now),
                )
            ).first()
            if clash is not None:
                msg = f"a token named {name!r} already exists ({clash.id})"
                raise ConfigError(msg, hint=f"revoke it first: grace token revoke {name}")
            values = {
                "id": self.ids.new("tok"),
                "name": name,
                "role": role.label,
                "token_hash": hash_token(secret),
                "prefix": secret[:10],
                "created_at": tx.now,
                "created_by": by,
                "expires_at": expires_at,
            }
            tx.conn.execute(insert(_tokens).values(**values))
            detail = {"name": name, "role": role.label, "prefix": values["prefix"]}
            if expires_at is not None:
                detail["expires_at"] = expires_at.isoformat()
            tx.audit(AuditDraft(by, "token.created", values["id"], detail))
        token = ApiToken(
            id=values["id"],
            name=name,
            role=role,
            prefix=values["prefix"],
            created_at=tx.now,
            created_by=by,
            expires_at=expires_at,
        )
        return token, secret

    def token_for_secret(self, secret: str) -> ApiToken | None:
        """The record whose hash matches ``secret`` (revoked or expired included), or None."""
        with self._read() as conn:
            row = conn.execute(
                select(_tokens).where(_tokens.c.token_hash == hash_token(secret))
            ).first()
        return None if row is None else _token(row)

    def get_token(self, token_id: str) -> ApiToken | None:
        """The record with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(_tokens).where(_tokens.c.id == token_id)).first()
        return None if row is None else _token(row)

    def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        """Tokens, oldest first (revoked ones only when asked)."""
        query = select(_tokens).order_by(_tokens.c.created_at, _tokens.c.id)
        if not include_revoked:
            query = query.where(_tokens.c.revoked_at.is_(None))
        with self._read() as conn:
            return [_token(r) for r in conn.execute(query).all()]

    def has_tokens(self) -> bool:
        """Whether any token that is not revoked exists."""
        with self._read() as conn:
            row = conn.execute(
                select(_tokens.c.id).where(_tokens.c.revoked_at.is_(None)).limit(1)
            ).first()
        return row is not None

    def revoke_token(self, name_or_id: str, *, by: str) -> ApiToken:
        """Revoke the usable token with this id or name; it stops working at once here and
        within the API's token cache time (seconds) in other processes.

        Raises:
            ConfigError: no usable token has this id or name.
        """
        with self.transaction() as tx:
            row = tx.conn.execute(
                select(_tokens).where(
                    (_tokens.c.id == name_or_id) | (_tokens.c.name == name_or_id),
                    _tokens.c.revoked_at.is_(None),
                )
            ).first()
            if row is None:
                msg = f"no active token has the id or name {name_or_id!r}"
                raise ConfigError(msg, hint="see them with: grace token list")
            tx.conn.execute(update(_tokens).where(_tokens.c.id == row.id).values(revoked_at=tx.now))
            tx.audit(AuditDraft(by, "token.revoked", row.id, {"name": row.name, "role": row.role}))
        return replace(_token(row), revoked_at=tx.now)

    def touch_tokens(self, used: dict[str, datetime]) -> None:
        """Record when tokens were last used (the API batches these, at most once a minute)."""
        if not used:
            return
        with self.transaction() as tx:
            for token_id, at in used.items():
                tx.conn.execute(
                    update(_tokens).where(_tokens.c.id == token_id).values(last_used_at=at)
                )

    def session_key(self) -> bytes:
        """The key that signs dashboard session cookies; made on first use, shared by every
        process and node on this database (a row in ``controls``)."""
        with self._read() as conn:
            row = conn.execute(
                select(_controls.c.value).where(_controls.c.name == SESSION_KEY)
            ).first()
        if row is not None:
            return bytes.fromhex(str(row.value["key"]))
        key = secrets.token_bytes(32)
        try:
            with self.transaction() as tx:
                tx.conn.execute(
                    insert(_controls).values(
                        name=SESSION_KEY, value={"key": key.hex()}, set_by="grace", set_at=tx.now
                    )
                )
        except IntegrityError:  # another process made it first: use theirs
            return self.session_key()
        return key
