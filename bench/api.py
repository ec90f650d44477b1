"""POST /api/events throughput and latency against a real ``grace serve`` daemon.

The daemon (``grace.daemon.Daemon``, default settings: SQLite with ``synchronous=FULL``, the
JSONL mirror, execute mode, 4 workers, uvicorn as ``grace serve`` starts it) runs in a child
process on 127.0.0.1; a playbook's trigger matches 1 event in 1,000. The load comes from a
lean driver (raw asyncio streams speaking HTTP/1.1 keep-alive: request bytes built from a
template, only the status line, ``Content-Length`` and the reply's ``accepted`` count parsed),
N connections spread over P client processes, for a fixed time:

(a) GET /health (baseline: the HTTP floor of the same server)
(b) POST /api/events, one event per request (the realistic case)
(c) POST /api/events, 100 events per request (reported apart)

Reported: requests/s, events/s, p50/p99 request latency, the daemon's CPU use (per wall second
and per request) and the clients'. Between phases the bench waits until the daemon is idle
again (the decide loop has caught up). Nothing may be lost: after the run the daemon is
stopped and the events in its database are counted; the count must equal the events that
2xx replies said were accepted (warm-ups included), or the bench fails.
When the daemon requires API tokens (``grace.store`` has ``create_token``) the bench creates
an operator token in the daemon's database first and sends it with every request.
Targets (issue 5): (b) >= 2,000 events/s and p99 <= 50 ms.

    .venv/bin/python bench/api.py [--quick] [--clients 8] [--procs 1] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def settings_for(tmp: Path, port: int, *, auth: bool = True) -> Any:
    from grace.config import Settings

    extra: dict[str, Any] = {} if auth else {"api": {"auth": False}}
    return Settings(
        data_dir=tmp / ".grace",
        log_dir=tmp / "logs",
        playbook_dirs=[tmp / "pb"],
        bundled_playbooks=False,
        mode="execute",
        listen=f"127.0.0.1:{port}",
        **extra,
    )


# -- the server (child process) ---------------------------------------------------------------


def serve(tmp: Path, port: int, *, auth: bool, uvloop: bool = False) -> int:
    """Run the daemon as ``grace serve`` does (``grace.cli._serve``), until SIGTERM."""
    import anyio

    from grace.daemon import serve as run_daemon
    from grace.logs import configure_logging

    settings = settings_for(tmp, port, auth=auth)
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
    anyio.run(run_daemon, settings, backend_options={"use_uvloop": uvloop})
    return 0


def make_token(tmp: Path, port: int) -> str | None:
    """An operator token in the daemon's database, as ``grace token create`` makes it.

    None when this Grace has no API tokens (``grace.store`` has no ``create_token``).
    """
    from grace.store import Store

    if not hasattr(Store, "create_token"):
        return None
    from grace.engine import Engine
    from grace.logs import configure_logging
    from grace.tokens import Role

    settings = settings_for(tmp, port)
    configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
    with Engine(settings) as engine:
        _, secret = engine.store.create_token(name="bench", role=Role.OPERATOR, by="bench")
    return str(secret)


# -- the load (client processes) ---------------------------------------------------------------


class Requests:
    """HTTP/1.1 requests as bytes, each event with a unique message (1 in HIT_EVERY matches)."""

    def __init__(self, port: int, token: str | None, offset: int) -> None:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = f"Host: 127.0.0.1:{port}\r\n{auth}".encode()
        self.n = offset
        """Each client process counts in its own range, so messages stay unique."""

    def event(self) -> bytes:
        self.n += 1
        n = self.n
        if n % HIT_EVERY == 0:
            msg = b"BENCH HIT %d" % n
        else:
            msg = b"GET /api/items/%d 500 upstream timed out after 30s (req %d)" % (n, n)
        return b'{"kind":"api_error","service":"svc-%d","message":"%s"}' % (n % 50, msg)

    def build(self, mode: str) -> tuple[bytes, int]:
        """One request and the events it carries."""
        if mode == "health":
            return b"GET /health HTTP/1.1\r\n" + self.head + b"\r\n", 0
        if mode == "single":
            body, n = self.event(), 1
        else:
            body, n = b"[" + b",".join(self.event() for _ in range(BATCH)) + b"]", BATCH
        return (
            b"POST /api/events HTTP/1.1\r\n"
            + self.head
            + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        ), n


async def one_connection(
    port: int, mode: str, requests: Requests, deadline: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = out["latencies_ms"]
    perf = time.perf_counter
    try:
        while perf() < deadline:
            request, want = requests.build(mode)
            t0 = perf()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
            latencies.append((perf() - t0) * 1000)
            out["requests"] += 1
            if mode == "health":
                ok = status == 200
            else:
                ok = 200 <= status < 300 and b'"accepted":%d,' % want in body
                if 200 <= status < 300:
                    # What the server says it recorded; checked against the store at the end.
                    accepted = body[body.index(b'"accepted":') + 11 :].split(b",", 1)[0]
                    out["accepted"] += int(accepted)
            if ok:
                out["events"] += want
            else:
                out["errors"] += 1
                if len(out["samples"]) < 3:
                    out["samples"].append(f"{status} {body[:300]!r}")
    finally:
        writer.close()


async def drive_async(
    port: int, mode: str, connections: int, start: float, seconds: float, requests: Requests
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests": 0,
        "events": 0,
        "accepted": 0,
        "errors": 0,
        "latencies_ms": [],
        "samples": [],
    }
    # Everyone starts at the same wall-clock time (several client processes).
    await asyncio.sleep(max(0.0, start - time.time()))
    deadline = time.perf_counter() + seconds
    cpu0 = time.process_time()
    await asyncio.gather(
        *(one_connection(port, mode, requests, deadline, out) for _ in range(connections))
    )
    out["cpu_s"] = time.process_time() - cpu0
    out["elapsed_s"] = time.perf_counter() - deadline + seconds
    out["next"] = requests.n
    return out


def drive_main(spec: str) -> int:
    """A client process: ``--drive`` JSON in argv, the results as JSON on stdout."""
    a = json.loads(spec)
    requests = Requests(a["port"], a["token"], a["offset"])
    out = asyncio.run(
        drive_async(a["port"], a["mode"], a["connections"], a["start"], a["seconds"], requests)
    )
    sys.stdout.write(json.dumps(out))
    return 0


# -- the orchestration (this process) ---------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int = 0
    events: int = 0
    accepted: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    drain_s: float = 0.0
    """After the phase, how long until the daemon was idle again."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def eps(self) -> float:
        return self.events / self.seconds

    @property
    def server_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / max(1, self.requests)


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


class Load:
    """Runs phases over ``clients`` connections in ``procs`` processes (0: in this one)."""

    def __init__(self, port: int, token: str | None, clients: int, procs: int) -> None:
        self.port, self.token, self.clients, self.procs = port, token, clients, procs
        self.next = [i * 100_000_000 for i in range(max(1, procs))]
        self.accepted = 0
        """Events that 2xx replies reported accepted, over every phase and warm-up."""

    def run(self, name: str, mode: str, seconds: float, server: psutil.Process) -> Phase:
        phase = Phase(name)
        start = time.time() + (0.3 if self.procs else 0.0)
        cpu0 = cpu_seconds(server)
        if self.procs == 0:
            requests = Requests(self.port, self.token, self.next[0])
            results = [
                asyncio.run(drive_async(self.port, mode, self.clients, start, seconds, requests))
            ]
        else:
            children = []
            for i in range(self.procs):
                share = self.clients // self.procs + (i < self.clients % self.procs)
                spec = {
                    "port": self.port,
                    "token": self.token,
                    "offset": self.next[i],
                    "mode": mode,
                    "connections": share,
                    "start": start,
                    "seconds": seconds,
                }
                children.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--drive", json.dumps(spec)],
                        stdout=subprocess.PIPE,
                    )
                )
            results = [json.loads(c.communicate()[0]) for c in children]
        # From the common start until the last reply (a request in flight at the deadline ends).
        phase.seconds = max(r["elapsed_s"] for r in results)
        phase.server_cpu_s = cpu_seconds(server) - cpu0
        for i, r in enumerate(results):
            self.next[i] = r["next"]
            phase.requests += r["requests"]
            phase.events += r["events"]
            phase.accepted += r["accepted"]
            phase.errors += r["errors"]
            phase.latencies_ms += r["latencies_ms"]
            phase.samples += r["samples"]
            phase.client_cpu_s += r["cpu_s"]
        self.accepted += phase.accepted
        return phase


def wait_idle(server: psutil.Process, limit_s: float) -> float:
    """Seconds until the server uses < 5 % of a core over 0.2 s (its backlog is done)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        c0 = cpu_seconds(server)
        time.sleep(0.2)
        if cpu_seconds(server) - c0 < 0.01:
            break
    return time.perf_counter() - start


def wait_ready(port: int, token: str | None, child: subprocess.Popen[bytes]) -> None:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    for _ in range(600):
        if child.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request.encode())
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    msg = "the daemon did not answer /health within 30 s"
    raise RuntimeError(msg)


def count_events(tmp: Path) -> int:
    with sqlite3.connect(tmp / ".grace" / "grace.db") as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--procs", type=int, default=1, help="client processes (0: in the bench process)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve with api.auth off (to measure what token checks cost)",
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run the daemon on uvloop (grace serve does not, yet): what it would gain",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.port, auth=not args.no_auth, uvloop=args.uvloop)
    if args.drive is not None:
        return drive_main(args.drive)
    seconds = 1.5 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "pb").mkdir()
        (tmp / "pb" / "on_bench.yaml").write_text(PLAYBOOK)
        port = free_port()
        token = None if args.no_auth else make_token(tmp, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tmp), "--port", str(port)]
            + (["--no-auth"] if args.no_auth else [])
            + (["--uvloop"] if args.uvloop else []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(port, token, child)
            server = psutil.Process(child.pid)
            load = Load(port, token, args.clients, args.procs)
            warm = min(1.0, seconds / 4)
            phases = []
            for name, mode in (
                ("(a) GET /health (baseline)", "health"),
                ("(b) POST /api/events, 1 event/request", "single"),
                (f"(c) POST /api/events, {BATCH} events/request", "batch"),
            ):
                load.run(name, mode, warm, server)
                wait_idle(server, 30)
                phase = load.run(name, mode, seconds, server)
                phase.drain_s = wait_idle(server, 60)
                phases.append(phase)
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
        stored = count_events(tmp)

    base = phases[0]
    where = f"{args.procs} client process(es)" if args.procs else "the bench process"
    loop = "uvloop" if args.uvloop else "asyncio"
    print(
        f"Grace API benchmark: {args.clients} keep-alive connections (raw asyncio HTTP/1.1) "
        f"from {where}, the daemon in another; {seconds:g} s per phase; "
        f"{os.cpu_count()} cores; 1 event in {HIT_EVERY} matches; "
        f"auth {'on (operator token)' if token else 'off'}; daemon event loop {loop}"
    )
    print(
        f"{'path':<44}{'req/s':>8}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU':>9}{'srv ms/req':>11}{'cli CPU':>9}{'drain s':>9}{'errors':>8}"
        f"{'vs health':>11}"
    )
    for p in phases:
        events = f"{p.eps:>10,.0f}" if p.events else f"{'':>10}"
        print(
            f"{p.name:<44}{p.rps:>8,.0f}{events}{pct(p.latencies_ms, 0.5):>8.1f}"
            f"{pct(p.latencies_ms, 0.99):>8.1f}{p.server_cpu_s / p.seconds:>8.0%} "
            f"{p.server_ms_per_request:>10.2f}{p.client_cpu_s / p.seconds:>8.0%} "
            f"{p.drain_s:>8.1f}{p.errors:>8}{p.rps / base.rps:>10.2f}x"
        )
        for sample in p.samples:
            print(f"    error: {sample}")
    lost = load.accepted - stored
    print(
        f"events accepted (2xx replies, warm-ups included): {load.accepted:,}; "
        f"in the store after the run: {stored:,}; "
        f"{'none lost' if lost == 0 else f'MISMATCH ({lost:+,})'}"
    )
    single = phases[1]
    p99 = pct(single.latencies_ms, 0.99)
    ok = single.eps >= TARGET_RATE and p99 <= TARGET_P99_MS and single.errors == 0
    print(
        f"target (b) >= {TARGET_RATE:,} events/s and p99 <= {TARGET_P99_MS:g} ms: "
        f"{'PASS' if ok else 'FAIL'} ({single.eps:,.0f}/s, p99 {p99:.1f} ms)"
    )
    return 0 if lost == 0 and not any(p.errors for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
