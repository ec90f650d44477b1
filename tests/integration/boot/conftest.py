"""Boot fixtures: settings on the test's own folder and database, and a boot runner."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.boot import BootReport, run_boot
from grace.config import Settings


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, playbook_dir: Path) -> Callable[..., Settings]:
    """Settings for this test: data dir, logs, playbooks in tmp; ``boot`` and others as given."""

    def make(**values: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": tmp_path / ".grace",
            "database_url": database_url,
            "playbook_dirs": [playbook_dir],
            "log_dir": tmp_path / "logs",
            "bundled_playbooks": False,
        }
        return Settings.model_validate({**base, **values})

    return make


@pytest.fixture
def boot() -> Callable[..., BootReport]:
    """Run a whole boot (its own event loop, as ``grace boot`` does)."""

    def run(settings: Settings, **kwargs: Any) -> BootReport:
        kwargs.setdefault("environ", {})
        return anyio.run(lambda: run_boot(settings, **kwargs))

    return run


@pytest.fixture
def audit_entries() -> Callable[[Settings], list[dict[str, Any]]]:
    """Every audit entry written, as ``grace audit export`` prints them."""

    def read(settings: Settings) -> list[dict[str, Any]]:
        from grace.audit import export_jsonl
        from grace.store import create_db_engine

        engine = create_db_engine(settings.effective_database_url)
        out = io.StringIO()
        try:
            export_jsonl(engine, out)
        finally:
            engine.dispose()
        return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    return read
