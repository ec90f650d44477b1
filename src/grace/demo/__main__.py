"""The demo behind ``make run``.

1. Start a real HTTP service whose ``/health`` answers 503 (its state file says it is broken).
2. Show the dry-run plan of the bundled ``demo_service_heal`` playbook.
3. Execute it on embedded SQLite (``.grace/``): check → repair (with a backup) → verify.
4. Show the run's timeline, the service answering 200, and the audit chain verifying.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import anyio
import httpx
from rich.console import Console
from rich.rule import Rule

from grace.cli._render import print_plan, print_timeline
from grace.config import load_settings
from grace.engine import Engine
from grace.logs import configure_logging


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(url: str) -> int:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def main() -> int:
    console = Console(highlight=False)
    settings, _ = load_settings()
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
    work = settings.data_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "state.json"
    state_file.write_text(json.dumps({"healthy": False}), encoding="utf-8")
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
        console.print(Rule("Grace demo"))
        console.print(
            f"demo service on {url}: /health answers [red]{_health(url)}[/red] (broken on purpose)"
        )
        variables = {"url": url, "state_file": str(state_file)}
        with Engine(settings) as engine:
            console.print(Rule("1. dry run (touches nothing)"))
            print_plan(console, engine.plan("demo_service_heal", vars=variables))
            console.print(Rule("2. execute"))
            run = anyio.run(
                lambda: engine.execute("demo_service_heal", vars=variables, requested_by="demo")
            )
            print_timeline(console, run, engine.store.step_attempts(run.id))
            engine.audit.checkpoint()
        console.print(f"demo service /health now answers [green]{_health(url)}[/green]")
        console.print(Rule("3. proof"))
        subprocess.run([sys.executable, "-m", "grace", "audit", "verify"], check=False)
        console.print(
            "\nnext: 'grace runs', 'grace runs show "
            f"{run.id}', 'grace logs --run {run.id}', 'grace playbooks list' (in .venv/bin)"
        )
        return 0 if run.status.value == "succeeded" else 1
    finally:
        service.terminate()
        service.wait(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
