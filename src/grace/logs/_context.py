"""Correlation ids bound through :mod:`contextvars`.

The ids live in structlog's context-local context, so every record logged inside a
:func:`bind_context` block carries them, in threads and across ``await`` alike. A task
started inside the block (an anyio task group, ``asyncio.create_task``) inherits a copy
of the ids at the moment it starts; what it binds itself never leaks back to its parent
or its siblings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import structlog

__all__ = ("CORRELATION_IDS", "bind_context", "current_context")

CORRELATION_IDS: Final[tuple[str, ...]] = (
    "run_id",
    "playbook_id",
    "step",
    "event_id",
    "request_id",
    "verification_id",
)
"""The only names :func:`bind_context` accepts, in the order records show them."""


@contextmanager
def bind_context(**ids: str | int | None) -> Iterator[dict[str, str]]:
    """Bind correlation ids for the duration of a ``with`` block.

    On exit the previous values are restored exactly (an outer ``run_id`` comes back, an id
    that was unbound is unbound again), even when the block raises. Values are stored as
    strings; a ``None`` value is skipped, so optional ids can be passed straight through.

    Example::

        with bind_context(run_id=run.id, playbook_id=run.playbook):
            log.info("run started", event_type="run.started")

    Args:
        **ids: Any of :data:`CORRELATION_IDS`.

    Yields:
        The ids in effect inside the block (a copy, as :func:`current_context` returns).

    Raises:
        ValueError: A name is not one of :data:`CORRELATION_IDS` (usually a typo).
    """
    unknown = sorted(set(ids) - set(CORRELATION_IDS))
    if unknown:
        msg = (
            f"bind_context() got unknown correlation id(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(CORRELATION_IDS)}"
        )
        raise ValueError(msg)
    values = {name: str(value) for name, value in ids.items() if value is not None}
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield current_context()
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def current_context() -> dict[str, str]:
    """Return the correlation ids bound in the current context.

    Returns:
        A new dict holding only names from :data:`CORRELATION_IDS`, in that order.
    """
    bound = structlog.contextvars.get_contextvars()
    return {name: bound[name] for name in CORRELATION_IDS if name in bound}
