"""Built-in sources (each one module). Their classes are listed in ``__all__``."""

from __future__ import annotations

from grace.sources.builtin.webhook import WebhookSource as WebhookSource

__all__: tuple[str, ...] = ("WebhookSource",)
