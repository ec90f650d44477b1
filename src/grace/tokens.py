"""API tokens: roles, secrets and their hashes (no I/O; the store keeps the records).

A token is ``grace_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256
is stored: a leaked database does not leak working tokens, and since the secret is random and
long a plain fast hash is enough (no password stretching needed, and each request can be
checked in microseconds).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from grace.errors import ConfigError

__all__ = (
    "TOKEN_PREFIX",
    "ApiToken",
    "Role",
    "hash_token",
    "looks_like_token",
    "new_token",
    "parse_role",
)

TOKEN_PREFIX = "grace_"  # noqa: S105 - the public prefix, not a secret


class Role(IntEnum):
    """What a token may do; each role may do everything the ones below it may.

    - ``viewer``: read everything (runs, audit, playbooks, metrics, the dashboard).
    - ``operator``: send events, request runs, silence, close tickets, press the emergency stop.
    - ``approver``: approve and reject pending runs.
    - ``admin``: lift the emergency stop, reset circuits.
    """

    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The role's name as written in config, the CLI and replies (``viewer``…)."""
        return self.name.lower()


def parse_role(text: str) -> Role:
    """``viewer``/``operator``/``approver``/``admin`` (any case) as a :class:`Role`.

    Raises:
        ConfigError: any other word; the message lists the four.
    """
    try:
        return Role[text.strip().upper()]
    except KeyError:
        names = ", ".join(r.label for r in Role)
        msg = f"unknown role {text!r}"
        raise ConfigError(msg, hint=f"use one of: {names}") from None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's record (never its secret)."""

    id: str
    name: str
    """Who or what holds it: recorded as the actor of everything done with it."""
    role: Role
    prefix: str
    """The first characters of the secret, to recognise it in a list."""
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


def new_token() -> str:
    """A fresh secret: ``grace_`` + 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The SHA-256 (hex) stored in place of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_token(secret: str) -> bool:
    """Whether ``secret`` has a token's shape (cheap check before any lookup)."""
    return secret.startswith(TOKEN_PREFIX) and 20 <= len(secret) <= 200
