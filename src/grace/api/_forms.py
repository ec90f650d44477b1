"""HTML form bodies (``application/x-www-form-urlencoded``) for the dashboard's forms.

The dashboard's forms carry a few short text fields and never files, so the standard
library's parser is enough (no python-multipart dependency). The body is read once per
request and kept on it, so the CSRF check and the route can both read the form.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from grace.api._errors import ApiError

__all__ = ("MAX_FORM_BYTES", "form_fields")

MAX_FORM_BYTES = 64 * 1024
"""Largest form body accepted: the dashboard's forms are a few fields."""


async def form_fields(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each), empty for a request without a body.

    Raises:
        ApiError: 415 for another content type, 413 past :data:`MAX_FORM_BYTES`.
    """
    cached = request.scope.get("grace.form")
    if isinstance(cached, dict):
        return cached
    body = await request.body()
    if not body:
        fields: dict[str, str] = {}
    else:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            msg = f"expected a form (application/x-www-form-urlencoded), got {kind or 'nothing'!r}"
            raise ApiError(415, msg, hint="post the page's form, or use the JSON API under /api")
        if len(body) > MAX_FORM_BYTES:
            raise ApiError(413, f"form body over {MAX_FORM_BYTES // 1024} KiB")
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {key: values[0] for key, values in parsed.items()}
    request.scope["grace.form"] = fields
    return fields
