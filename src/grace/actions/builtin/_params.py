"""Parameter types shared by the built-in actions: each one validates and explains itself.

A parameter model *is* the bounds check, so every type here fails with a message that says
what was wrong and how to write it instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from grace._docstrings import DOCUMENTED
from grace.actions._base import ActionParams

__all__ = (
    "BuiltinParams",
    "EnvName",
    "FilePath",
    "HttpUrl",
    "Seconds",
    "StatusCode",
    "display_url",
    "text_no_nul",
)


class BuiltinParams(ActionParams):
    """Base of the built-ins' parameter models: attribute docstrings become schema descriptions."""

    model_config = ConfigDict(**DOCUMENTED)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        msg = (
            f"{value!r} is not an environment variable name: use letters, digits and '_', "
            "not starting with a digit (like 'API_TOKEN')"
        )
        raise ValueError(msg)
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme else "none"
        msg = f"url {value!r} must start with http:// or https:// (scheme is {shown})"
        raise ValueError(msg)
    if not parts.hostname:
        msg = f"url {value!r} has no host; write it like 'http://127.0.0.1:8000/health'"
        raise ValueError(msg)
    try:
        _ = parts.port
    except ValueError:
        msg = f"url {value!r} has an invalid port; use a number from 1 to 65535"
        raise ValueError(msg) from None
    if any(c.isspace() for c in value):
        msg = f"url {value!r} contains whitespace; percent-encode it (%20)"
        raise ValueError(msg)
    return value


def text_no_nul(value: str) -> str:
    """Reject NUL bytes, which no program argument, path or environment value may contain."""
    if "\x00" in value:
        msg = "contains a NUL byte (\\x00), which no argument, path or environment value may hold"
        raise ValueError(msg)
    return value


EnvName = Annotated[str, AfterValidator(_check_env_name)]
"""An environment variable name (``^[A-Za-z_][A-Za-z0-9_]*$``)."""

HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
"""An absolute ``http://`` or ``https://`` URL with a host, kept exactly as written."""

FilePath = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(text_no_nul)]
"""A file path as written (``~`` allowed; relative paths are relative to Grace's working dir)."""

StatusCode = Annotated[int, Field(ge=100, le=599)]
"""An HTTP status code."""


def _no_bool(value: Any) -> Any:
    # YAML's `yes`/`true` would otherwise slip through as 1 second.
    if isinstance(value, bool):
        msg = "must be a number of seconds, not a boolean"
        raise ValueError(msg)  # noqa: TRY004 - pydantic wants ValueError to report it nicely
    return value


Seconds = Annotated[float, BeforeValidator(_no_bool)]
"""A duration in seconds; bounds are added per field with ``Field(ge=, le=)``."""


def display_url(url: str, *, path: bool = True) -> str:
    """``url`` safe to show in summaries, plans and logs.

    Credentials and the query string (where tokens tend to live) are never shown; with
    ``path=False`` the path is hidden too, for webhooks whose path is the secret.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    if not path:
        return (
            f"{parts.scheme}://{netloc}/…"
            if parts.path not in ("", "/")
            else f"{parts.scheme}://{netloc}/"
        )
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return f"{shown}?…" if parts.query else shown
