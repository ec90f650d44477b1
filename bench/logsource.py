"""Log source benchmark: lines/s end to end through the ``log`` source against the raw scan.

Run: ``.venv/bin/python bench/logsource.py`` (``--quick`` for a seconds-long smoke run).

Writes ~1,000,000 realistic log lines (~0.1% of them hit a trigger; one traceback every
~20,000 lines) to a file in a temporary folder, builds ``grace.matching.Matcher`` over 1,000
triggers plus the traceback header (as the daemon does), then measures, best of three:

(a) baseline: the raw scan — read the file in 1 MiB chunks, cut at the last newline, call
    ``matcher.scan`` once per chunk; no source;
(b) the ``log`` source with ``matcher.scan`` as its line filter, from the first byte until
    the last line's event is emitted: reading, the worker-thread hop, hit lines decoded into
    events, tracebacks grouped, offset rows saved to a real SQLite store (``emit`` only
    collects: the pipeline is not measured here);
(c) for scale, the source without a filter (every line an event) on the first 50,000 lines.

The target: (b) within 2x of (a), and >= 3,000,000 lines/s at 1,000 triggers.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import anyio

from grace.events import Event
from grace.sources import LineFilter, LineHit, SourceContext
from grace.sources.builtin.log import LogSource, LogSourceConfig
from grace.store import open_store
from grace.types import RandomIds, SystemClock

TARGET_LPS = 3_000_000
TARGET_RATIO = 2.0
CHUNK = 1024 * 1024
TRACEBACK = r"^Traceback \(most recent call last\):"
DONE = "2026-01-01T12:00:00Z CRITICAL bench: sentinel reached, the end of the file"

_SERVICES = ("api", "worker", "vectors", "billing", "auth", "scheduler", "gateway", "search")
_NOISE = (
    "GET /api/v1/items/{n} 200 {ms}ms user={user}",
    "POST /api/v1/orders 201 {ms}ms bytes={n}",
    "cache hit ratio={ratio} keys={n}",
    "processed batch {n} in {ms}ms (queue depth {depth})",
    "connection pool: active={depth} idle={n} waiting=0",
    "request_id={rid} completed status=ok duration={ms}ms",
    "heartbeat from node-{depth} lag={ms}ms",
    "retrying upstream call attempt={depth} backoff={ms}ms",
)


def triggers_for(count: int) -> list[str]:
    """``count`` trigger patterns shaped like playbook triggers (literals and small regexes)."""
    shapes = (
        "service {i} is unreachable",
        r"error code E{i:04d}\b",
        r"disk /dev/sd{i} (?:full|read-only)",
        r"(?i)shard-{i} replication lag exceeded",
        r"pool {i} exhausted after \d+ retries",
    )
    return [shapes[i % len(shapes)].format(i=i) for i in range(count)]


def hit_line(i: int, rng: random.Random) -> str:
    """A line that one of the patterns matches."""
    shapes = (
        "service {i} is unreachable",
        "error code E{i:04d} from upstream",
        "disk /dev/sd{i} full",
        "Shard-{i} replication lag exceeded",
        "pool {i} exhausted after 7 retries",
    )
    return shapes[i % len(shapes)].format(i=rng.randrange(0, 1000 // 5) * 5 + i % len(shapes))


def write_log(path: Path, lines: int, seed: int = 7) -> tuple[int, int]:
    """Write the benchmark log; returns (matching lines, tracebacks)."""
    rng = random.Random(seed)
    hits = tracebacks = 0
    with path.open("w", encoding="utf-8") as f:
        i = 0
        while i < lines - 1:
            stamp = f"2026-01-01T12:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
            service = _SERVICES[i % len(_SERVICES)]
            if i % 20_000 == 19_999:
                f.write(
                    f"{stamp} ERROR {service}: unhandled error\n"
                    "Traceback (most recent call last):\n"
                    f'  File "/srv/{service}/main.py", line 42, in handle\n'
                    "    store.open()\n"
                    f'  File "/srv/{service}/store.py", line 7, in open\n'
                    "    import faiss\n"
                    "ModuleNotFoundError: No module named 'faiss'\n"
                )
                i, tracebacks = i + 7, tracebacks + 1
                continue
            if rng.random() < 0.001:
                f.write(f"{stamp} ERROR {service}: {hit_line(i, rng)}\n")
                hits += 1
            else:
                text = rng.choice(_NOISE).format(
                    n=rng.randrange(100_000),
                    ms=rng.randrange(1, 900),
                    user=f"u{rng.randrange(10_000)}",
                    ratio=f"0.{rng.randrange(100):02d}",
                    depth=rng.randrange(16),
                    rid=f"{rng.getrandbits(64):016x}",
                )
                f.write(f"{stamp} INFO {service}: {text}\n")
            i += 1
        f.write(DONE + "\n")
    return hits + 1, tracebacks


def build_filter(count: int, backend: str | None = None) -> tuple[LineFilter, str]:
    """``Matcher.scan`` over ``count`` triggers plus the traceback header, and its backend."""
    try:
        from grace.matching import Matcher, Trigger
    except ImportError:  # the matcher not there yet: one compiled alternation instead
        import re

        alternation = re.compile(
            "|".join(f"(?:{p})" for p in [*triggers_for(count), TRACEBACK, "CRITICAL"]).encode(),
            re.MULTILINE,
        )

        def scan(buffer: bytes) -> list[LineHit]:
            hits: list[LineHit] = []
            for found in alternation.finditer(buffer):
                start = buffer.rfind(b"\n", 0, found.start()) + 1
                end = buffer.find(b"\n", found.end())
                hits.append(LineHit(start, len(buffer) if end < 0 else end))
            return hits

        return scan, "re alternation (grace.matching not importable)"
    patterns = [*triggers_for(count), TRACEBACK, "sentinel reached"]
    triggers = [
        Trigger(
            playbook=f"pb{i}", index=0, type="log_message", pattern=p, severity=None, service=None
        )
        for i, p in enumerate(patterns)
    ]
    matcher = Matcher(triggers, backend=backend)
    return matcher.scan, f"grace.matching.Matcher ({matcher.backend})"


def raw_scan(path: Path, line_filter: LineFilter) -> tuple[float, int]:
    """(a): read + filter only. Returns (seconds, hit lines)."""
    started = time.perf_counter()
    hits = 0
    rest = b""
    with path.open("rb", buffering=0) as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            hits += len(line_filter(data[:cut]))
    return time.perf_counter() - started, hits


class _Done(Exception):
    pass


def through_source(path: Path, db: Path, line_filter: LineFilter | None) -> tuple[float, int]:
    """(b)/(c): the log source from byte 0 until the sentinel's event. Returns (s, events)."""
    store = open_store(f"sqlite:///{db}")
    events: list[Event] = []
    ctx = SourceContext(
        clock=SystemClock(),
        ids=RandomIds(),
        state=store,
        data_dir=db.parent,
        line_filter=line_filter,
    )
    source = LogSource(
        LogSourceConfig(type="log", path=str(path), start_at="beginning", name=f"bench:{db.name}"),
        ctx,
    )

    finished: list[float] = []

    async def emit(event: Event, key: str | None) -> None:
        events.append(event)
        if event.message == DONE:
            finished.append(time.perf_counter())
            raise _Done  # stops the source (its final offset save is not timed)

    async def main() -> float:
        started = time.perf_counter()
        try:
            await source.run(emit)
        except* _Done:
            pass
        return finished[0] - started

    elapsed = anyio.run(main)
    store.engine.dispose()
    return elapsed, len(events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k lines, 100 triggers, 1 run")
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--triggers", type=int, default=None)
    parser.add_argument(
        "--backend", default=None, help="matcher engine: hyperscan, re2 or re (default: best)"
    )
    args = parser.parse_args(argv)
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    count = args.triggers or (100 if args.quick else 1000)
    runs = 1 if args.quick else 3
    with tempfile.TemporaryDirectory(prefix="grace-bench-log-") as tmp:
        root = Path(tmp)
        log = root / "app.log"
        hits, tracebacks = write_log(log, lines)
        size = log.stat().st_size
        line_filter, backend = build_filter(count, args.backend)
        print(
            f"log: {lines:,} lines, {size / 1e6:.1f} MB, {hits:,} hit lines, {tracebacks} tracebacks"
        )
        print(f"filter: {backend}, {count} triggers + the traceback header")
        raw = min(raw_scan(log, line_filter)[0] for _ in range(runs))
        src_runs = [through_source(log, root / f"b{i}.db", line_filter) for i in range(runs)]
        src = min(s for s, _ in src_runs)
        events = src_runs[0][1]
        small = root / "small.log"
        with log.open("rb") as f:
            head = b"".join(f.readline() for _ in range(min(50_000, lines - 1)))
        small.write_bytes(head + DONE.encode() + b"\n")
        slow, slow_events = through_source(small, root / "slow.db", None)
        slow_lines = head.count(b"\n") + 1
    raw_lps, src_lps = lines / raw, lines / src
    ratio = src / raw
    print(f"(a) raw scan (read + filter):      {raw_lps:>12,.0f} lines/s  ({raw:.3f} s)")
    print(
        f"(b) log source with the filter:    {src_lps:>12,.0f} lines/s  ({src:.3f} s, "
        f"{events:,} events)"
    )
    print(
        f"(c) log source, no filter:         {slow_lines / slow:>12,.0f} lines/s  "
        f"({slow_events:,} events from {slow_lines:,} lines)"
    )
    verdict = "pass" if ratio <= TARGET_RATIO else "FAIL"
    print(f"source / raw scan: {ratio:.2f}x (target <= {TARGET_RATIO}x): {verdict}")
    verdict = "pass" if src_lps >= TARGET_LPS else "below target"
    print(f"source lines/s: {src_lps:,.0f} (target >= {TARGET_LPS:,}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
