"""`make run`'s main job: the demo service breaks, `grace serve` notices and heals it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_heals_the_service(tmp_path: Path) -> None:
    """`python -m grace.demo --once`: a real service, a real probe, a real run that heals it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    done = subprocess.run(
        [sys.executable, "-m", "grace.demo", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broke the demo service" in done.stdout
    assert "succeeded" in done.stdout
    assert "healed: /health answers 200" in done.stdout
    dashboard = r"dashboard: http://127\.0\.0\.1:\d+/ .*?admin token\s+grace_\S{40,}"
    assert re.search(dashboard, done.stdout, re.DOTALL), done.stdout
    assert (tmp_path / ".grace" / "grace.db").exists()
    assert (tmp_path / "logs" / "immutable_audit.jsonl").exists()
