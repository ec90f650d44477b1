"""Audit log benchmark: durable appends/s and the time to verify a million entries.

Run: ``.venv/bin/python bench/audit.py`` (``--quick`` for a seconds-long smoke run).

Everything runs on a fresh SQLite file in a temporary directory (WAL, ``synchronous=FULL``,
``BEGIN IMMEDIATE``: the store's real settings), with the JSONL mirror on and a checkpoint
signed every 1,000 entries. Printed:

(a) baseline: one entry per transaction (``append_now([draft])``);
(b) group commit: ``await AuditLog.append`` from 200 concurrent producer tasks;
(c) ``append_now`` in batches of 100;
then a 1,000,000-entry chain with a checkpoint every 1,000 entries, and ``verify`` over it,
chain only and with the checkpoint signatures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
from sqlalchemy import Engine

from grace.audit import AuditDraft, AuditLog, SigningKey, format_time, load_or_create_key, verify
from grace.store import _audit_sql
from grace.store._database import create_db_engine, migrate

APPEND_TARGET = 25_000
"""Durable appends/s the group commit must reach."""
VERIFY_TARGET_S = 3.0
"""Seconds to verify 1M entries (with signatures)."""


def _draft(i: int) -> AuditDraft:
    return AuditDraft(
        actor="runner",
        action="step.finished",
        subject=f"run_{i:012x}",
        payload={"step": "restart_embedding", "status": "succeeded", "attempt": 1, "n": i},
    )


def _fresh_log(root: Path, name: str) -> AuditLog:
    engine = create_db_engine(f"sqlite:///{root / name / 'grace.db'}")
    migrate(engine)
    return AuditLog(engine, root / name, mirror_path=root / name / "immutable_audit.jsonl")


def bench_one_per_txn(root: Path, n: int) -> float:
    log = _fresh_log(root, "baseline")
    started = time.perf_counter()
    for i in range(n):
        log.append_now([_draft(i)])
    elapsed = time.perf_counter() - started
    log.close()
    log.engine.dispose()
    return n / elapsed


def bench_group_commit(root: Path, n: int, producers: int) -> tuple[float, int]:
    log = _fresh_log(root, "group")
    per_task = n // producers

    async def produce(k: int) -> None:
        for i in range(per_task):
            await log.append(_draft(k * per_task + i))

    async def main() -> float:
        async with log.running():
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for k in range(producers):
                    tg.start_soon(produce, k)
            return time.perf_counter() - started

    elapsed = anyio.run(main)
    with log.engine.connect() as conn:
        stored = _audit_sql.count(conn)
    log.engine.dispose()
    return per_task * producers / elapsed, stored


def bench_batches(root: Path, n: int, size: int) -> float:
    log = _fresh_log(root, "batches")
    started = time.perf_counter()
    for i in range(0, n, size):
        log.append_now([_draft(j) for j in range(i, i + size)])
    elapsed = time.perf_counter() - started
    log.close()
    log.engine.dispose()
    return n / elapsed


def build_chain(root: Path, n: int, every: int) -> tuple[Engine, SigningKey, float]:
    """``n`` entries in transactions of 10,000, a checkpoint every ``every`` entries."""
    engine = create_db_engine(f"sqlite:///{root / 'million' / 'grace.db'}")
    migrate(engine)
    key = load_or_create_key(root / "million")
    started = time.perf_counter()
    for i in range(0, n, 10_000):
        now = datetime.now(UTC)
        with engine.begin() as conn:
            drafts = [_draft(j) for j in range(i, min(n, i + 10_000))]
            entries = _audit_sql.append_entries(conn, drafts, now)
            for entry in entries:
                if entry.seq % every == 0:
                    cp = key.sign(entry.seq, entry.hash, format_time(now))
                    _audit_sql.insert_checkpoint(conn, cp)
    return engine, key, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    n_base, n, chain = (300, 5_000, 20_000) if args.quick else (3_000, 100_000, 1_000_000)

    with tempfile.TemporaryDirectory(prefix="grace-bench-audit-") as tmp:
        root = Path(tmp)
        base = bench_one_per_txn(root, n_base)
        group, stored = bench_group_commit(root, n, producers=200)
        batches = bench_batches(root, n, size=100)
        if stored != n:
            print(f"FAIL: group commit stored {stored} entries, expected {n}")
            return 1

        engine, key, build_s = build_chain(root, chain, every=1000)
        chain_only = verify(engine, public_keys=None)
        signed = verify(engine, public_keys={key.key_id: key.public_key})
        engine.dispose()

    print("Grace audit log benchmark (SQLite, WAL, synchronous=FULL, mirror on)")
    print(f"{'mode':<46}{'entries':>10}{'appends/s':>12}{'vs baseline':>13}")
    rows = [
        ("(a) one entry per transaction (baseline)", n_base, base),
        ("(b) group commit, 200 producer tasks", n, group),
        ("(c) append_now, 100 per transaction", n, batches),
    ]
    for name, count, rate in rows:
        print(f"{name:<46}{count:>10,}{rate:>12,.0f}{rate / base:>12.1f}x")
    print()
    print(f"built a {chain:,}-entry chain with a checkpoint every 1,000 in {build_s:.1f} s")
    print(f"{'verify':<46}{'entries':>10}{'seconds':>12}{'checkpoints':>13}")
    for name, report in (("chain only", chain_only), ("chain + signatures", signed)):
        if not report.ok:
            print(f"FAIL: verify found a problem in an untouched chain: {report.problem}")
            return 1
        print(
            f"{name:<46}{report.entries_checked:>10,}{report.duration_s:>12.2f}"
            f"{report.signatures_checked:>13,}"
        )
    print()
    verdict = "PASS" if group >= APPEND_TARGET else "FAIL"
    print(f"target >= {APPEND_TARGET:,}/s: {verdict} (group commit {group:,.0f}/s)")
    scaled = signed.duration_s * 1_000_000 / chain
    verdict = "PASS" if scaled <= VERIFY_TARGET_S else "FAIL"
    note = "" if chain == 1_000_000 else f" (scaled from {chain:,} entries)"
    print(f"target <= {VERIFY_TARGET_S:.0f} s verify of 1M: {verdict} ({scaled:.2f} s{note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
