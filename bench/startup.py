"""`grace serve`: start to ready, and idle memory, with the bundled playbooks and with 1000.

Baseline, in the same run: the bare interpreter start (`python -c pass`). Targets: idle RSS
<= 80 MB; start to ready <= 1 s, and <= 1.5 s with 1000 playbooks.

    .venv/bin/python bench/startup.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_once(tmp: Path, playbook_dir: Path | None) -> tuple[float, float]:
    """Seconds from spawn to /health answering, and RSS (MB) after 2 s idle."""
    port = free_port()
    env = {
        **os.environ,
        "GRACE_DATA_DIR": str(tmp / ".grace"),
        "GRACE_LOG_DIR": str(tmp / "logs"),
        "GRACE_PLAYBOOK_DIRS": str(playbook_dir or ""),
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "grace", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.005)
            if time.perf_counter() - start > 60:
                raise RuntimeError("grace serve did not become ready in 60 s")
        ready = time.perf_counter() - start
        time.sleep(2)
        rss = psutil.Process(proc.pid).memory_info().rss / 1e6
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return ready, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 1 if args.quick else 3
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        for _ in range(n):
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = (time.perf_counter() - t0) / n
        runs = [serve_once(tmp, None) for _ in range(n)]
        many = tmp / "many"
        many.mkdir()
        count = 100 if args.quick else 1000
        for i in range(count):
            (many / f"pb_{i:04d}.yaml").write_text(
                f"name: pb_{i:04d}\ntriggers: [{{type: log_message, pattern: 'job {i} failed (?P<code>\\d+)'}}]\n"
                "steps: [{name: a, action: log, with: {message: x}}]\n"
            )
        runs_many = [serve_once(tmp, many) for _ in range(n)]
    ready = sorted(r for r, _ in runs)[n // 2]
    rss = sorted(m for _, m in runs)[n // 2]
    ready_many = sorted(r for r, _ in runs_many)[n // 2]
    rss_many = sorted(m for _, m in runs_many)[n // 2]
    print(f"Grace serve start-up (median of {n})")
    print(f"{'case':<40}{'ready s':>9}{'idle RSS MB':>13}{'vs bare python':>16}")
    print(f"{'bare python -c pass (baseline)':<40}{bare:>9.3f}{'':>13}{1:>15.1f}x")
    print(f"{'grace serve, bundled playbooks':<40}{ready:>9.3f}{rss:>13.1f}{ready / bare:>15.1f}x")
    print(
        f"{f'grace serve, {count} playbooks':<40}{ready_many:>9.3f}{rss_many:>13.1f}{ready_many / bare:>15.1f}x"
    )
    if not args.quick:
        print(
            f"target ready <= 1 s: {'PASS' if ready <= 1 else 'FAIL'}; with 1000 <= 1.5 s: "
            f"{'PASS' if ready_many <= 1.5 else 'FAIL'}; idle RSS <= 80 MB: {'PASS' if rss <= 80 else 'FAIL'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
