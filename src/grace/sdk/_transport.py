"""One ``POST /api/events`` with the standard library, and what its outcome means for the report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ("Outcome", "post")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery attempt."""

    kind: Literal["delivered", "retry", "reject"]
    """``delivered``: Grace has it. ``retry``: unreachable, 5xx, 408, 429, 3xx. ``reject``: any
    other 4xx; resending the same body cannot succeed."""
    detail: str = ""


def post(
    url: str, item: dict[str, Any], *, timeout_s: float, headers: Mapping[str, str]
) -> Outcome:
    """Send one report. Never raises: every failure is an :class:`Outcome`."""
    import http.client
    import urllib.error
    import urllib.request

    from grace.sdk._report import SDK_VERSION

    body = json.dumps(item, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the URL is the app's own Grace endpoint
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"grace-sdk/{SDK_VERSION}",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            response.read()
            return Outcome("delivered", f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        status = exc.code
        text = _read(exc)
        # 401/403: the token is missing or wrong, which an operator fixes; the report waits
        # in the spool meanwhile (a 4xx for a bad report would fail forever: it is dropped).
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            return Outcome("reject", f"HTTP {status}: {text}")
        return Outcome("retry", f"HTTP {status}: {text}")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Outcome("retry", f"{type(reason).__name__}: {reason}")


def _read(exc: Any) -> str:
    try:
        data: bytes = exc.read(2000)
    except Exception:  # noqa: BLE001 - the body is only a hint for the operator
        return ""
    return data.decode("utf-8", "replace").strip()
