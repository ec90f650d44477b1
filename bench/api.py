"""POST /api/events throughput and latency against a real ``grace serve`` daemon.

The daemon (``grace.daemon.Daemon``, default settings: SQLite with ``synchronous=FULL``, the
JSONL mirror, execute mode, 4 workers, uvicorn as ``grace serve`` starts it) runs in a child
process on 127.0.0.1; a playbook's trigger matches 1 event in 1,000. This process drives it
with httpx (``AsyncClient``, HTTP/1.1 keep-alive) from N concurrent clients for a fixed time:

(a) GET /health (baseline: the HTTP floor of the same server)
(b) POST /api/events, one event per request (the realistic case)
(c) POST /api/events, 100 events per request (reported apart)

Reported: requests/s, events/s, p50/p99 request latency, and the server's CPU use. Between
phases the bench waits until the daemon is idle again (the decide loop has caught up).
Targets (issue 5): (b) >= 2,000 events/s and p99 <= 50 ms.

    .venv/bin/python bench/api.py [--quick] [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

PLAYBOOK = """
name: on_bench
triggers: [{type: api_error, pattern: 'BENCH HIT (?P<n>\\d+)'}]
steps: [{name: first, action: log, with: {message: "hit {{ diagnosis.n }}"}}]
"""
HIT_EVERY = 1000
BATCH = 100
TARGET_RATE = 2_000
TARGET_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


# -- the server (child process) ---------------------------------------------------------------


def serve(tmp: Path, port: int) -> int:
    """Run the daemon as ``grace serve`` does, until SIGTERM."""
    import anyio

    from grace.config import Settings
    from grace.daemon import Daemon
    from grace.logs import configure_logging

    settings = Settings(
        data_dir=tmp / ".grace",
        log_dir=tmp / "logs",
        playbook_dirs=[tmp / "pb"],
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{port}",
    )
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
    daemon = Daemon.create(settings)
    try:
        anyio.run(daemon.run)
    finally:
        daemon.engine.close()
    return 0


# -- the client (this process) ----------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int
    events: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    server_cpu: float
    """Server CPU seconds per wall second during the phase (1.0 = one core)."""
    client_cpu: float
    """The same for this process (the clients)."""
    drain_s: float = 0.0
    """After the phase, how long until the daemon was idle again."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def eps(self) -> float:
        return self.events / self.seconds


class Bodies:
    """Event bodies with unique messages; one in ``HIT_EVERY`` matches the playbook."""

    def __init__(self) -> None:
        self.n = 0

    def event(self) -> dict[str, str]:
        self.n += 1
        if self.n % HIT_EVERY == 0:
            msg = f"BENCH HIT {self.n}"
        else:
            msg = f"GET /api/items/{self.n} 500 upstream timed out after 30s (req {self.n})"
        return {"kind": "api_error", "service": f"svc-{self.n % 50}", "message": msg}


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    total = t.user + t.system
    for child in proc.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


async def drive(
    client: httpx.AsyncClient,
    base: str,
    name: str,
    mode: str,
    clients: int,
    seconds: float,
    bodies: Bodies,
    server: psutil.Process,
) -> Phase:
    latencies: list[float] = []
    counts = {"requests": 0, "events": 0, "errors": 0}
    deadline = 0.0

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            if mode == "health":
                t0 = time.perf_counter()
                r = await client.get(f"{base}/health")
                dt = time.perf_counter() - t0
                ok, n = r.status_code == 200, 0
            else:
                body: object = (
                    bodies.event() if mode == "single" else [bodies.event() for _ in range(BATCH)]
                )
                want = 1 if mode == "single" else BATCH
                t0 = time.perf_counter()
                r = await client.post(f"{base}/api/events", json=body)
                dt = time.perf_counter() - t0
                ok = r.status_code == 202 and r.json().get("accepted") == want
                n = want
            latencies.append(dt * 1000)
            counts["requests"] += 1
            if ok:
                counts["events"] += n
            else:
                counts["errors"] += 1

    cpu0, mine0 = cpu_seconds(server), time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    cpu = (cpu_seconds(server) - cpu0) / elapsed
    mine = (time.process_time() - mine0) / elapsed
    return Phase(
        name,
        counts["requests"],
        counts["events"],
        elapsed,
        latencies,
        counts["errors"],
        cpu,
        mine,
    )


async def wait_idle(server: psutil.Process, limit_s: float) -> float:
    """Seconds until the server uses < 5 % of a core over 0.2 s (its backlog is done)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        c0 = cpu_seconds(server)
        await asyncio.sleep(0.2)
        if cpu_seconds(server) - c0 < 0.01:
            break
    return time.perf_counter() - start


async def run_client(
    port: int, server: psutil.Process, clients: int, seconds: float
) -> list[Phase]:
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        for _ in range(600):
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        else:
            msg = "the daemon did not answer /health within 30 s"
            raise RuntimeError(msg)
        bodies = Bodies()
        warm = min(1.0, seconds / 4)
        phases = []
        for name, mode in (
            ("(a) GET /health (baseline)", "health"),
            ("(b) POST /api/events, 1 event/request", "single"),
            (f"(c) POST /api/events, {BATCH} events/request", "batch"),
        ):
            await drive(client, base, name, mode, clients, warm, bodies, server)  # warm-up
            await wait_idle(server, 30)
            phase = await drive(client, base, name, mode, clients, seconds, bodies, server)
            phase.drain_s = await wait_idle(server, 60)
            phases.append(phase)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.port)
    seconds = 1.5 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "pb").mkdir()
        (tmp / "pb" / "on_bench.yaml").write_text(PLAYBOOK)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tmp), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            phases = asyncio.run(run_client(port, psutil.Process(child.pid), args.clients, seconds))
        except BaseException:
            child.kill()
            _, err = child.communicate()
            sys.stderr.write(err.decode(errors="replace"))
            raise
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    base = phases[0]
    print(
        f"Grace API benchmark: {args.clients} clients (httpx, keep-alive) in one process, "
        f"the daemon in another; {seconds:g} s per phase; {os.cpu_count()} cores; "
        f"1 event in {HIT_EVERY} matches"
    )
    print(
        f"{'path':<44}{'req/s':>9}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU':>9}{'cli CPU':>9}{'drain s':>9}{'errors':>8}{'vs health':>11}"
    )
    for p in phases:
        events = f"{p.eps:>10,.0f}" if p.events else f"{'':>10}"
        print(
            f"{p.name:<44}{p.rps:>9,.0f}{events}{pct(p.latencies_ms, 0.5):>8.1f}"
            f"{pct(p.latencies_ms, 0.99):>8.1f}{p.server_cpu:>8.0%} {p.client_cpu:>8.0%} {p.drain_s:>8.1f}"
            f"{p.errors:>8}{p.rps / base.rps:>10.2f}x"
        )
    single = phases[1]
    p99 = pct(single.latencies_ms, 0.99)
    ok = single.eps >= TARGET_RATE and p99 <= TARGET_P99_MS and single.errors == 0
    print(
        f"target (b) >= {TARGET_RATE:,} events/s and p99 <= {TARGET_P99_MS:g} ms: "
        f"{'PASS' if ok else 'FAIL'} ({single.eps:,.0f}/s, p99 {p99:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
