"""The ``log`` source says when it is watching, and ``grace serve`` is ready only after that:
a line written the moment the daemon answers ``/health`` is never missed (``start_at: end``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from grace.config import Settings
from grace.sources import SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig
from grace.testing import eventually, free_port, serving

pytestmark = pytest.mark.anyio

LINE = "2026-01-01 12:00:00 ERROR nightly: could not take a snapshot of /srv/data"
PLAYBOOK = """
name: on_snapshot_failure
triggers: [{type: log_message, pattern: 'could not take a snapshot'}]
steps: [{name: note, action: log, with: {message: seen}}]
"""


async def test_started_means_every_file_is_open_at_its_offset(
    tmp_path: Path, log_ctx: SourceContext, log_sink: Any
) -> None:
    """Started with ``tg.start``, the source returns once its file is open at the end; a line
    appended right then is read, and what was there before is not (start_at: end)."""
    path = tmp_path / "app.log"
    path.write_text("2026-01-01 12:00:00 ERROR old news, before the source started\n")
    config = LogSourceConfig.model_validate({"type": "log", "path": str(path)})
    source = LogSource(config, log_ctx)
    async with anyio.create_task_group() as tg:
        await tg.start(source.run, log_sink.emit)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(LINE + "\n")
        await log_sink.wait_for(1)
        tg.cancel_scope.cancel()
    (message,) = log_sink.messages
    assert "could not take a snapshot" in message


async def test_a_line_written_as_the_daemon_answers_is_never_missed(
    tmp_path: Path, database_url: str
) -> None:
    """Ten daemons in a row: each time, the line is appended the instant ``/health`` first
    answers, and each time the daemon records it as an event."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "on_snapshot_failure.yaml").write_text(PLAYBOOK)
    for attempt in range(10):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        log = folder / "app.log"
        log.touch()
        settings = Settings.model_validate(
            {
                "data_dir": folder / ".grace",
                "log_dir": folder / "logs",
                "database_url": database_url,
                "bundled_playbooks": False,
                "playbook_dirs": [playbooks],
                "mode": "observe",
                "listen": f"127.0.0.1:{free_port()}",
                "api": {"auth": False},
                "sources": [{"type": "log", "path": str(log), "service": "backup"}],
            }
        )
        async with serving(settings) as daemon:
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"{LINE} #{attempt}\n")
            store = daemon.engine.store
            await eventually(
                lambda: store.count_events() >= 1,  # noqa: B023 - awaited in this iteration
                what=f"the line of attempt {attempt} as an event",
                within=10,
            )
