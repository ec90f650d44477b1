"""Every benchmark script still runs (``--quick``): smoke tests only, no timing asserts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each script, and lines its report must contain (so a broken report fails, not only a crash).
BENCHES = {
    "api.py": [
        "(a) GET /health (baseline)",
        "(b) POST /api/events, 1 event/request",
        "(c) POST /api/events, 100 events/request",
    ],
    "audit.py": ["appends/s", "verify of 1M"],
    "matcher.py": ["Matcher.scan [re]"],
    "logsource.py": ["(a) raw scan", "(b) log source with the filter", "source / raw scan:"],
    "pipeline.py": ["naive re.search per trigger (baseline)", "Grace match + govern + record"],
    "latency.py": ["(a) log line", "(b) POST /api/events", "(c) event → shell exited"],
    "startup.py": ["bare python -c pass (baseline)", "grace serve, bundled playbooks"],
    "restart.py": ["Grace: crash → new process"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(BENCHES))
def test_bench_quick_runs(script: str, tmp_path: Path) -> None:
    """``bench/<script> --quick`` exits 0 and prints its report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in BENCHES[script]:
        assert line in done.stdout, done.stdout
