"""The SDK runs inside user apps: standard library only, nothing else from Grace."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grace.sdk

SDK_DIR = Path(grace.sdk.__file__).parent


def test_sdk_modules_import_only_the_stdlib_and_the_sdk() -> None:
    """Every import in ``grace/sdk/*.py`` is a standard-library module or ``grace.sdk`` itself."""
    offenders = []
    for path in sorted(SDK_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if name.startswith("grace.sdk") or top == "__future__":
                    continue
                if top not in sys.stdlib_module_names:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_importing_the_sdk_loads_no_heavy_dependencies() -> None:
    """``import grace.sdk`` in a fresh interpreter loads no database, HTTP-client or async
    framework, and not even urllib.request until the first report is sent."""
    code = (
        "import sys, grace.sdk; "
        "print([m for m in ('sqlalchemy', 'alembic', 'fastapi', 'httpx', 'anyio', 'jinja2', "
        "'urllib.request') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_api() -> None:
    """The facade exports the documented names."""
    assert grace.sdk.__all__ == (
        "SDK_VERSION",
        "Client",
        "GraceLogHandler",
        "default_spool_dir",
        "get_client",
        "install",
        "install_asyncio_handler",
        "uninstall",
    )
