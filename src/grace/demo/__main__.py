"""The demo behind ``make run``: Grace, on embedded SQLite, healing a real service as you watch.

1. A real HTTP service starts (``/health`` answers 200 while its state file says healthy).
2. ``grace serve`` starts in execute mode, probing that service every half second.
3. Every 15 s the demo breaks the service (its state file says broken → 503).
4. Grace's probe notices, the ``demo_service_heal`` playbook runs (check → repair with a
   backup → verify), and the service answers 200 again. Each run's timeline is printed.

Ctrl-C stops it. ``--once`` stops after the first heal (what the test suite runs).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import anyio
import httpx
from rich.console import Console

from grace.cli._render import print_timeline
from grace.config import Settings, load_settings
from grace.daemon import Daemon
from grace.logs import configure_logging

BREAK_EVERY_S = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(url: str) -> int:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _break(url: str, state_file: Path) -> int:
    state_file.write_text(json.dumps({"healthy": False}), encoding="utf-8")
    return _health(url)


def _demo_settings(base: Settings, url: str, state_file: Path) -> Settings:
    return base.model_copy(
        update={
            "mode": "execute",
            "listen": f"127.0.0.1:{_free_port()}",
            "config": {**base.config, "demo": {"url": url, "state_file": str(state_file)}},
            "sources": [
                *base.sources,
                {
                    "type": "http",
                    "name": "demo-health",
                    "service": "demo",
                    "url": f"{url}/health",
                    "interval_s": 0.5,
                    "timeout_s": 1,
                    "failures_before_event": 2,
                },
            ],
        }
    )


async def _watch(daemon: Daemon, console: Console, url: str, state_file: Path, once: bool) -> None:
    store = daemon.engine.store
    seen: set[str] = set()
    next_break = time.monotonic() + 3
    while True:
        if time.monotonic() >= next_break:
            status = await anyio.to_thread.run_sync(_break, url, state_file)
            console.print(f"[red]✗ broke the demo service[/red]: /health answers {status}")
            next_break = time.monotonic() + BREAK_EVERY_S
        for run in await anyio.to_thread.run_sync(lambda: store.list_runs(limit=20)):
            if run.id in seen or run.finished_at is None:
                continue
            seen.add(run.id)
            print_timeline(console, run, store.step_attempts(run.id))
            status = await anyio.to_thread.run_sync(_health, url)
            console.print(f"[green]✓ healed[/green]: /health answers {status}\n")
            if once:
                return
        await anyio.sleep(0.2)


def _demo_token(daemon: Daemon) -> str:
    """A fresh admin token named ``demo`` for the dashboard (the previous demo's is revoked)."""
    from grace.errors import ConfigError
    from grace.tokens import Role

    store = daemon.engine.store
    with contextlib.suppress(ConfigError):  # no earlier demo token
        store.revoke_token("demo", by="grace demo")
    _, secret = store.create_token(name="demo", role=Role.ADMIN, by="grace demo")
    return secret


async def _main(once: bool, base: Settings, url: str, state_file: Path) -> int:
    console = Console(highlight=False)
    settings = _demo_settings(base, url, state_file)
    daemon = Daemon.create(settings)
    token = _demo_token(daemon)
    console.rule("Grace demo")
    console.print(
        f"demo service on {url} (healthy) · grace serve in execute mode on {settings.listen}\n"
        f"data in {settings.data_dir}/ (SQLite) · logs in {settings.log_dir}/ · "
        f"the demo breaks the service in 3 s, then every {BREAK_EVERY_S:g} s · Ctrl-C to stop\n"
        f"dashboard: http://{settings.listen}/ · log in with the demo's admin token "
        f"[bold]{token}[/bold] (revoked by the next demo)\n"
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(daemon.run, install_signals=False))
            await _watch(daemon, console, url, state_file, once)
            tg.cancel_scope.cancel()
    finally:
        daemon.engine.close()
    console.print("next: grace runs · grace runs show RUN_ID · grace audit verify · grace logs")
    return 0


def main() -> int:
    base, _ = load_settings()
    configure_logging(log_dir=base.log_dir, level=base.log_level, console=False)
    work = base.data_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "state.json"
    state_file.write_text(json.dumps({"healthy": True}), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    service = subprocess.Popen(
        [sys.executable, "-m", "grace.demo.service", str(port), str(state_file)]
    )
    try:
        for _ in range(100):
            if _health(url):
                break
            time.sleep(0.05)
        return anyio.run(_main, "--once" in sys.argv[1:], base, url, state_file)
    except KeyboardInterrupt:
        return 0
    finally:
        service.terminate()
        service.wait(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
