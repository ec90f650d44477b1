"""CLI fixtures: the real ``grace`` command, in-process or as a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from grace.cli import main


@dataclass
class Grace:
    """Runs ``grace`` against the test's own data dir, database and playbook folder."""

    env: dict[str, str]
    playbooks: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def write(self, name: str, text: str) -> Path:
        path = self.playbooks / f"{name}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        """Run in-process; returns (exit code, stdout, stderr)."""
        for key, value in self.env.items():
            self.monkeypatch.setenv(key, value)
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def spawn(self, *argv: str) -> subprocess.Popen[str]:
        """Start ``python -m grace ARGV`` as a real child process."""
        return subprocess.Popen(
            [sys.executable, "-m", "grace", *argv],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_process(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``python -m grace ARGV`` to completion as a real child process."""
        return subprocess.run(
            [sys.executable, "-m", "grace", *argv],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def grace(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., tuple[int, str, str]]:
    """A ``grace`` bound to this test's data dir, database and playbooks folder."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    monkeypatch.chdir(tmp_path)
    env = {
        "GRACE_DATA_DIR": str(tmp_path / ".grace"),
        "GRACE_DATABASE_URL": database_url,
        "GRACE_PLAYBOOK_DIRS": str(playbooks),
        "GRACE_LOG_DIR": str(tmp_path / "logs"),
        "GRACE_BUNDLED_PLAYBOOKS": "false",
    }
    return Grace(env=env, playbooks=playbooks, capsys=capsys, monkeypatch=monkeypatch)
