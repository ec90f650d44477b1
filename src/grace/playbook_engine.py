"""The seeds' entry point: ``python -m grace.playbook_engine execute NAME`` / ``test NAME --dry-run``.

Kept so runbooks written for the seeds keep working; it is the ``grace`` CLI under another name.
"""

from __future__ import annotations

if __name__ == "__main__":
    from grace.cli import main

    raise SystemExit(main())
