"""Benchmark: Grace's matcher against a naive per-pattern ``re.search`` loop.

Generates about a million realistic log lines in memory (nginx access lines, Python logging,
JSON lines, tracebacks and stack frames, syslog; a little non-ASCII), of which about 0.1 %
match a trigger, and measures lines per second for 10, 100 and 1000 regex triggers:

* ``scan``: ``Matcher.scan`` over 1 MiB newline-aligned chunks, as a log source feeds it,
  for each backend (hyperscan, google-re2, re);
* ``match``: ``Matcher.match`` on one event per line (one Python call per line);
* ``naive``: ``for line: for pattern: pattern.search(line)``, the baseline;
* ``raw hyperscan``: one block-mode scan of the untranslated patterns, callbacks only (the
  ceiling no Python wrapper can beat).

Slow combinations run on a sample and are extrapolated, and the table says so. Also prints
hyperscan's compile time against loading the cached database.

Usage::

    .venv/bin/python bench/matcher.py            # the full run (a few minutes on 2 cores)
    .venv/bin/python bench/matcher.py --quick    # a small smoke run (seconds)
"""

from __future__ import annotations

import argparse
import importlib
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from grace.events import Event
from grace.matching import BACKEND_NAMES, Matcher, Trigger, _cache

TARGET = 3_000_000
CHUNK = 1 << 20
WORDS = (
    "orders",
    "users",
    "sessions",
    "cart",
    "payments",
    "search",
    "inventory",
    "auth",
    "billing",
    "reports",
    "feed",
    "profile",
    "upload",
    "export",
    "metrics",
    "catalog",
)
NAMES = ("alice", "bob", "chloé", "dmitri", "eve", "józsef", "李雷", "zoë", "mark", "nora")

# Trigger templates: {k} makes each variant distinct; {k} also appears in the matching lines.
TEMPLATES: tuple[tuple[str, str], ...] = (
    (
        r"worker (?P<id>\d+) died on shard-{k}\b",
        "2024-03-12 10:15:{s:02d},114 ERROR [pool] worker {n} died on shard-{k}",
    ),
    (
        r"database \"(?P<db>db{k})\" is locked",
        'sqlite3.OperationalError: database "db{k}" is locked',
    ),
    (
        r"No module named '(?P<module>plugin_{k}(?:\.\w+)*)'",
        "ModuleNotFoundError: No module named 'plugin_{k}.loader'",
    ),
    (
        r"disk (?P<dev>/dev/sd{k}) is (?P<pct>9\d)% full",
        "Mar 12 10:15:{s:02d} host-{n} monitor: disk /dev/sd{k} is 97% full",
    ),
    (
        r"connect\(\) failed \(111: Connection refused\) while connecting to upstream.*:{port}\b",
        '2024/03/12 10:15:{s:02d} [error] 31#31: *{n} connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.{s}, upstream: "http://10.1.0.9:{port}/"',
    ),
    (
        r"job (?P<job>sync-{k}-\d+) failed after (?P<tries>\d+) retries",
        '{{"ts":"2024-03-12T10:15:{s:02d}Z","level":"error","msg":"job sync-{k}-{n} failed after 5 retries"}}',
    ),
    (
        r"\" 50[234] \d+ .*\"svc-{k}/",
        '10.0.3.{s} - - [12/Mar/2024:10:15:{s:02d} +0000] "POST /api/v2/orders HTTP/1.1" 503 0 "-" "svc-{k}/2.1"',
    ),
    (
        r"certificate for (?P<host>[\w.-]+\.k{k}\.example) (?:has )?expired",
        "WARN tls: certificate for api.k{k}.example has expired",
    ),
    (
        r"OOMKilled: container (?P<container>app-{k})\b",
        "Mar 12 10:15:{s:02d} node-{n} kubelet: OOMKilled: container app-{k} restarted",
    ),
    (
        r"too many open files \(pid (?P<pid>\d+), unit=svc{k}\)",
        "2024-03-12 10:15:{s:02d},000 CRITICAL too many open files (pid {n}, unit=svc{k})",
    ),
)


def background(rng: random.Random, i: int) -> str:
    """One ordinary, non-matching log line."""
    kind = rng.random()
    s = i % 60
    word = rng.choice(WORDS)
    if kind < 0.35:
        status = rng.choice((200, 200, 200, 201, 204, 304, 404))
        return (
            f"10.0.{i % 256}.{rng.randrange(256)} - - [12/Mar/2024:10:15:{s:02d} +0000] "
            f'"GET /api/v1/{word}/{rng.randrange(100000)}?page={i % 7} HTTP/1.1" {status} '
            f'{rng.randrange(50000)} "-" "Mozilla/5.0 (X11; Linux x86_64) Chrome/122.0"'
        )
    if kind < 0.65:
        level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARNING"))
        return (
            f"2024-03-12 10:15:{s:02d},{i % 1000:03d} {level} [app.{word}] processed request "
            f"{rng.randrange(10**9):x} for user {rng.choice(NAMES)} in {rng.randrange(400)}ms"
        )
    if kind < 0.85:
        return (
            f'{{"ts":"2024-03-12T10:15:{s:02d}.{i % 1000:03d}Z","level":"info","service":"{word}",'
            f'"msg":"request completed","path":"/api/v1/{word}/{rng.randrange(9999)}",'
            f'"status":200,"duration_ms":{rng.randrange(900)}}}'
        )
    if kind < 0.95:
        return rng.choice(
            (
                "Traceback (most recent call last):",
                f'  File "/srv/app/{word}/handlers.py", line {rng.randrange(900)}, in handle_{word}',
                f"    result = self.{word}_service.fetch(request.args['id'])",
                f"ValueError: invalid literal for int() with base 10: '{word}'",
                f"KeyError: '{word}_id'",
            )
        )
    return (
        f"Mar 12 10:15:{s:02d} host-{i % 16} kernel: [{rng.randrange(10**6)}.{i % 1000:03d}] "
        f"eth{i % 4}: link up, 1000Mbps, full-duplex"
    )


def triggers(count: int) -> list[Trigger]:
    """``count`` triggers: the templates in turn, variant ``k`` = position // len(templates)."""
    return [
        Trigger(
            playbook=f"pb_{n:04d}",
            index=0,
            type="log_message",
            pattern=TEMPLATES[n % len(TEMPLATES)][0].format(
                k=100 + n // len(TEMPLATES), port=20000 + n
            ),
            severity=None,
            service=None,
        )
        for n in range(count)
    ]


def matching_line(rng: random.Random, n: int) -> str:
    """A line that trigger number ``n`` matches."""
    template = TEMPLATES[n % len(TEMPLATES)][1]
    return template.format(
        k=100 + n // len(TEMPLATES), port=20000 + n, s=rng.randrange(60), n=rng.randrange(10**5)
    )


def corpus(lines: int, count: int, base: list[str]) -> list[str]:
    """``base`` with one line in a thousand replaced by a line some trigger matches."""
    rng = random.Random(count)
    out = list(base[:lines])
    for i in range(0, lines, 1000):
        out[i + rng.randrange(min(1000, lines - i))] = matching_line(rng, rng.randrange(count))
    return out


def chunks(buffer: bytes) -> list[bytes]:
    """Newline-aligned chunks of about ``CHUNK`` bytes."""
    out: list[bytes] = []
    pos = 0
    while pos < len(buffer):
        end = (
            len(buffer) if pos + CHUNK >= len(buffer) else buffer.rfind(b"\n", pos, pos + CHUNK) + 1
        )
        out.append(buffer[pos:end])
        pos = end
    return out


def timed(run: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def available() -> list[str]:
    """The backends importable here."""
    names = []
    for name in BACKEND_NAMES:
        module = {"hyperscan": "hyperscan", "re2": "re2"}.get(name)
        try:
            if module:
                importlib.import_module(module)
        except ImportError:
            continue
        names.append(name)
    return names


def raw_hyperscan(patterns: list[str], parts: list[bytes]) -> float | None:
    """Seconds for a bare block-mode scan of the untranslated patterns (callbacks only)."""
    try:
        hs = importlib.import_module("hyperscan")
    except ImportError:
        return None
    database = hs.Database(mode=hs.HS_MODE_BLOCK)
    database.compile(
        expressions=[p.encode() for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=hs.HS_FLAG_UTF8,
    )
    scratch = hs.Scratch(database)
    found: list[int] = []

    def on_match(pid: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
        found.append(end)

    def run() -> None:
        for part in parts:
            database.scan(part, match_event_handler=on_match, scratch=scratch)

    return timed(run, 2)


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    args = parser.parse_args()
    total = 20_000 if args.quick else 1_000_000
    counts = (10, 100) if args.quick else (10, 100, 1000)
    sample = 5_000 if args.quick else 20_000
    repeat = 1 if args.quick else 2
    backends = available()
    rng = random.Random(42)
    base = [background(rng, i) for i in range(total)]
    print(f"# grace matcher benchmark: {total:,} lines, backends {', '.join(backends)}")
    print(f"# python {platform.python_version()}, {platform.machine()}, cores: 2 (this machine)")
    print()
    header = f"{'triggers':>8}  {'method':<24} {'lines/s':>14}  {'vs naive':>9}  note"
    print(header)
    print("-" * len(header))
    verdict: bool | None = None
    for count in counts:
        lines = corpus(total, count, base)
        buffer = ("\n".join(lines) + "\n").encode()
        parts = chunks(buffer)
        trigs = triggers(count)
        compiled = [re.compile(t.pattern or "", re.MULTILINE) for t in trigs]
        small = lines[:sample]

        def naive(subset: list[str] = small, patterns: list[re.Pattern[str]] = compiled) -> None:
            for line in subset:
                for pattern in patterns:
                    pattern.search(line)

        naive_rate = len(small) / timed(naive, repeat)
        rows: list[tuple[str, float, str]] = [
            ("naive re.search loop", naive_rate, f"on {len(small):,} lines")
        ]
        expected: list[int] | None = None
        for name in backends:
            matcher = Matcher(trigs, backend=name)
            slow = name == "re" and count >= 100
            scan_parts = chunks(("\n".join(small) + "\n").encode()) if slow else parts
            scanned = sum(len(p.split(b"\n")) - 1 for p in scan_parts)
            hits: list[int] = []

            def scan(
                m: Matcher = matcher, ps: list[bytes] = scan_parts, out: list[int] = hits
            ) -> None:
                out[:] = [len(m.scan(p)) for p in ps]

            rate = scanned / timed(scan, 1 if slow else repeat)
            note = f"on {scanned:,} lines" if slow else f"{sum(hits):,} lines hit"
            if not slow:
                if expected is None:
                    expected = hits[:]
                elif hits != expected:
                    note += " (DIFFERENT from the other backends!)"
            rows.append((f"Matcher.scan [{name}]", rate, note))
            if name == "hyperscan" and count == 1000:
                verdict = rate >= TARGET
            events = [
                Event(
                    id="e",
                    time=datetime(2024, 3, 12, tzinfo=UTC),
                    source="bench",
                    kind="log",
                    message=line,
                )
                for line in (small if name == "re" and count >= 100 else lines[: sample * 5])
            ]

            def match(m: Matcher = matcher, evs: list[Event] = events) -> None:
                for event in evs:
                    m.match(event)

            rows.append(
                (
                    f"Matcher.match [{name}]",
                    len(events) / timed(match, repeat),
                    f"on {len(events):,} events",
                )
            )
        raw = raw_hyperscan([t.pattern or "" for t in trigs], parts)
        if raw is not None:
            rows.append(("raw hyperscan (ceiling)", total / raw, "untranslated, no line mapping"))
        for method, rate, note in rows:
            print(f"{count:>8}  {method:<24} {rate:>14,.0f}  {rate / naive_rate:>8.0f}x  {note}")
        print()
    if "hyperscan" in backends:
        trigs = triggers(counts[-1])
        hs = importlib.import_module("hyperscan")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            Matcher(trigs, backend="hyperscan", cache_dir=Path(tmp))
            compile_s = time.perf_counter() - start
            start = time.perf_counter()
            Matcher(trigs, backend="hyperscan", cache_dir=Path(tmp))
            cached_s = time.perf_counter() - start
            (path,) = Path(tmp).glob("hyperscan-*.db")
            cached = _cache.load(Path(tmp), path.stem.removeprefix("hyperscan-"))
            assert cached is not None
            load_s = timed(lambda: hs.loadb(cached.blob, hs.HS_MODE_BLOCK), 5)
        print(
            f"hyperscan, {counts[-1]} triggers: Matcher() {compile_s * 1000:,.0f} ms when it"
            f" compiles, {cached_s * 1000:,.0f} ms with the cached database"
            f" (hyperscan.loadb itself: {load_s * 1000:.2f} ms; the rest is parsing and"
            f" compiling the {counts[-1]} Python patterns)"
        )
    if verdict is not None:
        print(f"1000 triggers: ≥ {TARGET:,} lines/s scan: {'PASS' if verdict else 'FAIL'}")
    elif not args.quick:
        print("1000 triggers: hyperscan is not installed, target not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
