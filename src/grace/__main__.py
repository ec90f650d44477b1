"""``python -m grace`` is the ``grace`` command."""

from __future__ import annotations

from grace.cli import main

raise SystemExit(main())
