"""Events/s through match + decide with 1000 playbooks' triggers, on a stream where few match.

Baseline, measured in the same run: a naive loop calling `re.search` for every trigger on every
event. Grace: `Matcher.match_playbooks` + the governor + recording decisions (and proposed runs)
in the store for the events that match. Target: >= 100,000 events/s.

    .venv/bin/python bench/pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from grace.actions import default_registry
from grace.daemon import build_matcher
from grace.events import Event
from grace.governance import Governor, auto_trigger, conditions, recovery_signal
from grace.pipeline import Decider
from grace.playbooks import load_text
from grace.store import open_store
from grace.types import RandomIds, SystemClock

WORDS = [
    "worker",
    "shard",
    "queue",
    "cache",
    "index",
    "replica",
    "session",
    "upload",
    "billing",
    "search",
]


def playbook_yaml(i: int) -> str:
    word = WORDS[i % len(WORDS)]
    return (
        f"name: pb_{i:04d}\n"
        "triggers:\n"
        f"  - {{type: log_message, pattern: '{word} (?P<id>\\d+) failed on node-{i:04d}'}}\n"
        "steps:\n"
        "  - {name: a, action: log, with: {message: x}}\n"
    )


def make_events(n: int, hit_every: int, rng: random.Random) -> list[Event]:
    clock = SystemClock()
    now = clock.now()
    events = []
    for i in range(n):
        if i % hit_every == 0:
            msg = f"ERROR {WORDS[i % 10]} {i} failed on node-{rng.randrange(100) * 10 + i % 10:04d}"
        else:
            msg = (
                f"INFO GET /api/items/{i} 200 {rng.randrange(1, 90)}ms user={rng.randrange(10**6)}"
            )
        events.append(Event(f"evt_{i}", now, "bench", "log", "api", "error", msg, {}))
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    n_playbooks = 100 if args.quick else 1000
    n_events = 5_000 if args.quick else 200_000
    naive_sample = 500 if args.quick else 5_000
    rng = random.Random(7)
    registry = default_registry()
    playbooks = {
        pb.name: pb
        for pb in (load_text(playbook_yaml(i), registry=registry) for i in range(n_playbooks))
    }
    matcher = build_matcher(playbooks, None)
    events = make_events(n_events, 1000, rng)

    # Baseline: naive per-pattern re.search (sampled; extrapolated per event).
    patterns = [re.compile(t.pattern or "") for t in matcher.triggers]
    start = time.perf_counter()
    naive_hits = 0
    for event in events[:naive_sample]:
        for p in patterns:
            if p.search(event.message):
                naive_hits += 1
    naive_rate = naive_sample / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        decider = Decider(
            store=store,
            governor=Governor([recovery_signal, auto_trigger, conditions]),
            playbooks=lambda: playbooks,
            matcher=lambda: matcher,
            mode=lambda: "observe",
            clock=SystemClock(),
            ids=RandomIds(),
            config={},
        )
        start = time.perf_counter()
        decisions = 0
        for event in events:
            decisions += len(decider.decide(event))
        grace_rate = n_events / (time.perf_counter() - start)
        store.close()

    print(
        f"Grace pipeline benchmark: {n_playbooks} playbooks, {n_events:,} events, "
        f"{decisions} matching (~{decisions / n_events:.2%}), matcher backend {matcher.backend}"
    )
    print(f"{'path':<44}{'events/s':>14}{'vs baseline':>14}")
    print(f"{'naive re.search per trigger (baseline)':<44}{naive_rate:>14,.0f}{1:>13.1f}x")
    print(
        f"{'Grace match + govern + record':<44}{grace_rate:>14,.0f}{grace_rate / naive_rate:>13.1f}x"
    )
    if not args.quick:
        verdict = "PASS" if grace_rate >= 100_000 else "FAIL"
        print(f"target >= 100,000 events/s: {verdict} ({grace_rate:,.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
