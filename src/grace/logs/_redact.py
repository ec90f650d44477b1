"""Redaction: secrets never reach a log line.

Two rules, applied to every record before it is rendered:

* a value whose **key** looks secret is replaced by :data:`REDACTED`, at any depth of nested
  mappings (``headers={"Authorization": ...}``);
* inside every **string** value (the message included), ``KEY=value`` / ``KEY: value`` pairs
  whose key looks secret, ``Bearer <token>`` and the password in ``scheme://user:pass@host``
  are masked.

Over-masking is preferred to leaking: ``token: expired`` becomes ``token: ***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from structlog.typing import EventDict, WrappedLogger

__all__ = ("REDACTED", "is_secret_key", "redact_secrets", "redact_text", "redact_value")

REDACTED: Final = "***"
"""What a masked value is replaced with."""

_SECRET_NAMES: Final = frozenset(
    {"token", "password", "passwd", "secret", "api_key", "apikey", "authorization", "cookie"}
)
_SECRET_SUFFIXES: Final = ("_token", "_key", "_secret", "_password", "_authorization")
# Domain keys that end in ``_key`` but are identifiers, not credentials.
_NOT_SECRET: Final = frozenset({"event_key", "dedupe_key", "idempotency_key", "public_key"})

_URL_PASSWORD: Final = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", re.I)
_KEY_VALUE: Final = re.compile(
    r"(?P<key>[A-Za-z_][\w.-]*)(?P<sep>[\"']?\s*[=:]\s*)"
    r"(?P<value>(?:(?i:bearer|basic|token)\s+)?(?:\"[^\"]*\"|'[^']*'|[^\s,;&'\"]+))"
)
_BEARER: Final = re.compile(r"\b(?P<scheme>Bearer)\s+[\w.~+/=-]+", re.I)


def is_secret_key(key: str) -> bool:
    """Tell whether a key names a secret.

    Matching ignores case and treats ``-`` as ``_``, so ``X-Api-Key`` and ``GITHUB_TOKEN``
    are secret while ``event_key`` (a dedupe key) is not.

    Args:
        key: A mapping key or a ``KEY=`` name found in text.

    Returns:
        ``True`` for ``token``, ``password``, ``secret``, ``api_key``, ``authorization``
        and names ending in ``_token``, ``_key``, ``_secret`` or ``_password``.
    """
    name = key.lower().replace("-", "_")
    if name in _NOT_SECRET:
        return False
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def _mask_pairs(text: str) -> str:
    # A non-secret pair must not swallow its value: ``note: token=abc`` still has a secret.
    parts: list[str] = []
    pos = 0
    while match := _KEY_VALUE.search(text, pos):
        if is_secret_key(match["key"]):
            quote = match["value"][0] if match["value"][0] in "\"'" else ""
            parts += (text[pos : match.start("value")], f"{quote}{REDACTED}{quote}")
            pos = match.end()
        else:
            parts.append(text[pos : match.end("sep")])
            pos = match.end("sep")
    parts.append(text[pos:])
    return "".join(parts)


def redact_text(text: str) -> str:
    """Mask secrets inside free text.

    Args:
        text: A message, a command line, an error string.

    Returns:
        *text* with secret ``KEY=value`` pairs, ``Bearer`` tokens and URL passwords
        replaced by :data:`REDACTED`.
    """
    if not any(ch in text for ch in "=:") and "bearer" not in text.lower():
        return text  # the common case: nothing that could hold a secret
    text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    text = _mask_pairs(text)
    return _BEARER.sub(rf"\g<scheme> {REDACTED}", text)


def redact_value(value: Any) -> Any:
    """Redact a value of any shape, without mutating it.

    Mappings are copied with secret keys masked, sequences are copied item by item, strings
    go through :func:`redact_text`; anything else is returned unchanged.

    Args:
        value: A logged value.

    Returns:
        The redacted copy (or *value* itself when nothing needed masking).
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_key(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_value(item) for item in value)
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Structlog processor: mask secret keys and secrets inside string values.

    Args:
        logger: The wrapped logger (unused).
        method_name: The log method's name (unused).
        event_dict: The record being built.

    Returns:
        A new event dict with :func:`is_secret_key` keys replaced by :data:`REDACTED` and
        every string value passed through :func:`redact_text`.
    """
    return {
        key: REDACTED if is_secret_key(key) else redact_value(value)
        for key, value in event_dict.items()
    }
