"""Built-in sources (each one module). Their classes are listed in ``__all__``."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
