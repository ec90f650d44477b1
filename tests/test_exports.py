"""Every public module declares a tuple ``__all__`` whose names exist (httpx/anyio's export tests)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import grace


def _public_modules() -> list[ModuleType]:
    mods = [grace]
    for info in pkgutil.walk_packages(grace.__path__, prefix="grace."):
        parts = info.name.split(".")
        if (
            any(p.startswith("_") for p in parts)
            or "migrations" in parts
            or parts[-1] in ("demo", "__main__")
        ):
            continue
        if info.name in ("grace.playbook_engine",) or info.name.startswith("grace.demo"):
            continue
        mods.append(importlib.import_module(info.name))
    return mods


def test_public_modules_declare_all() -> None:
    """Each public module lists its exports in a tuple ``__all__``, and every listed name exists."""
    for mod in _public_modules():
        names = getattr(mod, "__all__", None)
        assert isinstance(names, tuple), f"{mod.__name__} has no tuple __all__"
        missing = [n for n in names if not hasattr(mod, n)]
        assert not missing, f"{mod.__name__}.__all__ names missing attributes: {missing}"


def test_validate_does_not_import_the_database_layer() -> None:
    """`grace validate` stays light: loading the CLI and validating imports no SQLAlchemy or Alembic."""
    import subprocess
    import sys

    code = (
        "import sys; from grace.cli import _app, _inspect; from grace.playbooks import validate_paths;"
        "from grace.actions import default_registry; validate_paths([], registry=default_registry());"
        "bad=[m for m in ('sqlalchemy','alembic','fastapi') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
