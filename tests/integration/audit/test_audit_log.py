"""AuditLog on a real database: group commit, failures, the mirror, checkpoints, export."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Engine

from grace.audit import (
    AuditDraft,
    AuditEntry,
    AuditLog,
    export_checkpoints_jsonl,
    export_jsonl,
    load_or_create_key,
    load_public_keys,
    verify,
)
from grace.errors import AuditError, ConfigError, StoreError
from grace.store import _audit_sql

Tamper = Callable[[str], None]
"""The ``tamper`` fixture: raw SQL on the test database."""


def draft(i: int) -> AuditDraft:
    return AuditDraft("runner", "step.finished", f"run_{i}", {"i": i, "note": "naïve ✓"})


@pytest.fixture
def make_log(db_engine: Engine, tmp_path: Path) -> Callable[..., AuditLog]:
    """AuditLogs on the test database, with the key and mirror under tmp_path."""

    def make(**kwargs: object) -> AuditLog:
        kwargs.setdefault("mirror_path", tmp_path / "logs" / "immutable_audit.jsonl")
        return AuditLog(db_engine, tmp_path / "data", **kwargs)  # type: ignore[arg-type]

    return make


def db_entries(engine: Engine) -> list[AuditEntry]:
    with engine.connect() as conn:
        return list(_audit_sql.iter_entries(conn, batch=7))


def mirror_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def verify_signed(engine: Engine, tmp_path: Path) -> None:
    report = verify(engine, public_keys=load_public_keys(tmp_path / "data"))
    assert report.ok, report.problem


class TestGroupCommit:
    @pytest.mark.anyio
    async def test_concurrent_appends_are_acknowledged_dense_and_chained(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """1,000 appends from concurrent tasks: all acknowledged, seqs 1..1000, chain verifies."""
        log = make_log()
        acked: list[AuditEntry] = []

        async def produce(k: int) -> None:
            for i in range(10):
                acked.append(await log.append(draft(k * 10 + i)))

        async with log.running(), anyio.create_task_group() as tg:
            for k in range(100):
                tg.start_soon(produce, k)

        assert sorted(e.seq for e in acked) == list(range(1, 1001))
        stored = db_entries(db_engine)
        assert stored == sorted(acked, key=lambda e: e.seq)
        # Entries of one batch share its commit time: far fewer transactions than entries.
        assert len({e.time for e in stored}) < 100
        verify_signed(db_engine, tmp_path)

    @pytest.mark.anyio
    async def test_a_lone_append_is_flushed_by_the_timer(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """One append does not wait for 99 others: flush_after commits it."""
        log = make_log(flush_after=0.001)
        async with log.running():
            with anyio.fail_after(10):
                entry = await log.append(draft(1))
            with db_engine.connect() as conn:
                assert _audit_sql.head(conn) == (1, entry.hash)

    @pytest.mark.anyio
    async def test_a_failed_batch_reaches_every_waiter(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tamper: Tamper
    ) -> None:
        """When the batch's transaction fails, every caller in it gets the error; none is kept."""
        if db_engine.dialect.name == "sqlite":
            tamper(
                "CREATE TRIGGER audit_boom BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END;"
            )
            undo = "DROP TRIGGER audit_boom;"
        else:
            tamper(
                "CREATE FUNCTION audit_boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'boom'; END $$;\n"
                "CREATE TRIGGER audit_boom BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_boom();"
            )
            undo = "DROP TRIGGER audit_boom ON audit_log;"
        log = make_log()
        errors: list[BaseException] = []

        async def produce(i: int) -> None:
            try:
                await log.append(draft(i))
            except StoreError as exc:
                errors.append(exc)

        async with log.running():
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(produce, i)
            assert len(errors) == 50
            assert all("did not commit" in str(e) and "boom" in str(e) for e in errors)
            assert len({id(e) for e in errors}) == 50  # one error object per caller
            tamper(undo)
            entry = await log.append(draft(99))
        assert entry.seq == 1
        assert [e.seq for e in db_entries(db_engine)] == [1]

    @pytest.mark.anyio
    async def test_a_bad_draft_fails_only_its_caller(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """A payload that cannot be canonical JSON is refused before it joins a batch."""
        log = make_log()
        async with log.running():
            good = await log.append(draft(1))
            with pytest.raises(TypeError):
                await log.append(AuditDraft("engine", "run.created", "r", {1: "a", "b": 2}))  # type: ignore[dict-item]
            assert (await log.append(draft(2))).seq == good.seq + 1

    @pytest.mark.anyio
    async def test_append_needs_a_running_flusher(self, make_log: Callable[..., AuditLog]) -> None:
        """Appending before running() or after it ended is an error that says what to do."""
        log = make_log()
        with pytest.raises(AuditError, match=r"log\.running"):
            await log.append(draft(1))
        async with log.running():
            await log.append(draft(1))
        with pytest.raises(AuditError, match="closed"):
            await log.append(draft(2))

    @pytest.mark.anyio
    async def test_closing_commits_what_is_pending(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """Leaving running() with appends in flight commits them before returning."""
        log = make_log(flush_after=10.0, flush_at=1000)
        results: list[AuditEntry] = []

        async def produce(i: int) -> None:
            results.append(await log.append(draft(i)))

        async with anyio.create_task_group() as tg, log.running():
            for i in range(5):
                tg.start_soon(produce, i)
            await anyio.sleep(0.05)
        assert len(results) == 5
        assert len(db_entries(db_engine)) == 5


class TestConcurrentWriters:
    def test_racing_first_appends_share_one_head(self, db_engine: Engine) -> None:
        """Writers racing to create the head row on an empty log all succeed, densely."""
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def first_append(k: int) -> None:
            barrier.wait()
            try:
                with db_engine.begin() as conn:
                    _audit_sql.append_entries(conn, [draft(k), draft(k + 10)], datetime.now(UTC))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=first_append, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [e.seq for e in db_entries(db_engine)] == list(range(1, 17))
        assert verify(db_engine, public_keys=None).ok

    def test_verify_while_appending(self, make_log: Callable[..., AuditLog]) -> None:
        """verify reads one snapshot without the write lock: appends go on, and it passes."""
        log = make_log(checkpoint_every=50)
        log.append_now([draft(i) for i in range(200)])
        stop = threading.Event()
        appended: list[int] = []

        def writer() -> None:
            while not stop.is_set():
                appended.append(log.append_now([draft(i) for i in range(20)])[-1].seq)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            reports = [log.verify() for _ in range(10)]
        finally:
            stop.set()
            thread.join()
        assert all(r.ok for r in reports), [r.problem for r in reports]
        assert appended, "the writer was blocked for the whole time"
        assert log.verify().entries_checked == appended[-1]

    def test_a_reset_head_is_refused(
        self, make_log: Callable[..., AuditLog], tamper: Tamper
    ) -> None:
        """A head moved back to 0 under existing entries would fork the chain: refused."""
        log = make_log()
        log.append_now([draft(1)])
        tamper(f"UPDATE audit_head SET seq = 0, hash = '{'0' * 64}' WHERE id = 1")
        with pytest.raises(AuditError, match="missing or reset"):
            log.append_now([draft(2)])


class TestMirror:
    @pytest.mark.anyio
    async def test_mirror_lines_equal_the_database_rows(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """Group commit, append_now and the store's hook all land in the mirror, in order."""
        log = make_log()
        async with log.running():
            for i in range(5):
                await log.append(draft(i))
            await anyio.to_thread.run_sync(log.append_now, [draft(i) for i in range(5, 9)])
            with db_engine.begin() as conn:
                entries = _audit_sql.append_entries(conn, [draft(9)], datetime.now(UTC))
            log.committed(entries)
        lines = mirror_lines(tmp_path / "logs" / "immutable_audit.jsonl")
        assert lines == [e.to_dict() for e in db_entries(db_engine)]
        assert [line["seq"] for line in lines] == list(range(1, 11))

    def test_store_transactions_from_threads(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """The committed() hook is thread-safe: every entry mirrored once, checkpoints signed."""
        log = make_log(checkpoint_every=20)

        def store_worker(k: int) -> None:
            for i in range(10):
                with db_engine.begin() as conn:
                    entries = _audit_sql.append_entries(
                        conn, [draft(k * 100 + i), draft(k * 100 + i + 50)], datetime.now(UTC)
                    )
                log.committed(entries)

        threads = [threading.Thread(target=store_worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log.close()
        lines = mirror_lines(tmp_path / "logs" / "immutable_audit.jsonl")
        stored = db_entries(db_engine)
        assert len(stored) == 80
        assert sorted(lines, key=lambda line: line["seq"]) == [e.to_dict() for e in stored]  # type: ignore[arg-type, return-value]
        with db_engine.connect() as conn:
            assert len(_audit_sql.list_checkpoints(conn)) >= 4
        verify_signed(db_engine, tmp_path)

    @pytest.mark.anyio
    async def test_a_missing_mirror_is_rebuilt_on_start(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """Entries committed while the mirror was gone (or lagging) are written at start."""
        first = make_log()
        first.append_now([draft(i) for i in range(3)])
        first.close()
        mirror = tmp_path / "logs" / "immutable_audit.jsonl"
        mirror.unlink()
        second = make_log()
        async with second.running():
            await second.append(draft(3))
        assert [line["seq"] for line in mirror_lines(mirror)] == [1, 2, 3, 4]

    def test_a_torn_last_line_is_replaced(
        self, make_log: Callable[..., AuditLog], tmp_path: Path
    ) -> None:
        """A crash mid-line leaves a torn line; it is cut and the entry written again whole."""
        log = make_log()
        log.append_now([draft(i) for i in range(3)])
        log.close()
        mirror = tmp_path / "logs" / "immutable_audit.jsonl"
        whole = mirror.read_text(encoding="utf-8")
        lines = whole.splitlines(keepends=True)
        mirror.write_text(lines[0] + lines[1][:20], encoding="utf-8")
        assert make_log().sync_mirror() == 2
        assert mirror.read_text(encoding="utf-8") == whole

    def test_catch_up_after_lines_longer_than_the_read_window(
        self, make_log: Callable[..., AuditLog], tmp_path: Path
    ) -> None:
        """Finding the mirror's last seq works when lines are larger than 64 KiB."""
        log = make_log()
        big = [
            AuditDraft("engine", "run.created", f"r{i}", {"blob": "x" * 100_000}) for i in range(3)
        ]
        log.append_now(big)
        log.close()
        mirror = tmp_path / "logs" / "immutable_audit.jsonl"
        whole = mirror.read_text(encoding="utf-8")
        mirror.write_text("".join(whole.splitlines(keepends=True)[:2]), encoding="utf-8")
        assert make_log().sync_mirror() == 1
        assert mirror.read_text(encoding="utf-8") == whole

    def test_the_synchronous_path_catches_up_too(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """append_now / committed() bring a lagging mirror up to date on first use."""
        with db_engine.begin() as conn:
            _audit_sql.append_entries(conn, [draft(i) for i in range(4)], datetime.now(UTC))
        log = make_log()
        log.append_now([draft(4)])
        lines = mirror_lines(tmp_path / "logs" / "immutable_audit.jsonl")
        assert lines == [e.to_dict() for e in db_entries(db_engine)]
        assert len(lines) == 5


class TestCheckpoints:
    def test_signed_every_n_entries_and_at_close(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """A checkpoint per checkpoint_every entries, not per entry; one more on close."""
        log = make_log(checkpoint_every=100)
        for start in range(0, 250, 10):
            log.append_now([draft(i) for i in range(start, start + 10)])
        log.close()
        with db_engine.connect() as conn:
            assert [cp.seq for cp in _audit_sql.list_checkpoints(conn)] == [100, 200, 250]
        assert log.checkpoint() is None  # the head is signed already
        verify_signed(db_engine, tmp_path)

    @pytest.mark.anyio
    async def test_group_commit_signs_per_batch_when_due(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """Under group commit checkpoints come at batch ends, at least checkpoint_every apart."""
        log = make_log(checkpoint_every=100, max_batch=100)

        async def produce(k: int) -> None:
            for i in range(10):
                await log.append(draft(k * 10 + i))

        async with log.running(), anyio.create_task_group() as tg:
            for k in range(60):
                tg.start_soon(produce, k)
        with db_engine.connect() as conn:
            seqs = [cp.seq for cp in _audit_sql.list_checkpoints(conn)]
        assert seqs[-1] == 600
        assert all(b - a >= 100 for a, b in itertools.pairwise(seqs[:-1]))
        assert 5 <= len(seqs) <= 7
        verify_signed(db_engine, tmp_path)

    def test_the_counter_resumes_from_the_database(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """A restarted log counts from the last checkpoint in the database, not from zero."""
        first = make_log(checkpoint_every=100)
        first.append_now([draft(i) for i in range(100)])
        first.append_now([draft(i) for i in range(90)])
        second = make_log(checkpoint_every=100)
        second.append_now([draft(i) for i in range(10)])
        with db_engine.connect() as conn:
            assert [cp.seq for cp in _audit_sql.list_checkpoints(conn)] == [100, 200]


class TestKeyLoading:
    def test_a_first_start_writes_the_key_and_its_pub(
        self, make_log: Callable[..., AuditLog], tmp_path: Path
    ) -> None:
        """With no key yet, making the log creates it, so the .pub is there for auditors."""
        log = make_log()
        assert (tmp_path / "data" / "audit_ed25519.key").exists()
        assert set(load_public_keys(tmp_path / "data")) == {log.key.key_id}

    def test_an_existing_key_is_loaded_at_the_first_checkpoint(
        self, make_log: Callable[..., AuditLog], db_engine: Engine, tmp_path: Path
    ) -> None:
        """A restarted log signs with the key on disk, loaded when it first signs."""
        key = load_or_create_key(tmp_path / "data")
        log = make_log(checkpoint_every=5)
        assert log._key is None  # checked, not loaded
        log.append_now([draft(i) for i in range(5)])
        assert log.key.key_id == key.key_id
        verify_signed(db_engine, tmp_path)

    def test_a_pub_of_another_key_is_refused_at_the_first_checkpoint(
        self, make_log: Callable[..., AuditLog], tmp_path: Path
    ) -> None:
        """The one check start-up cannot make without loading the key still happens, and no
        checkpoint is signed with a key whose .pub says otherwise."""
        load_or_create_key(tmp_path / "data")
        load_or_create_key(tmp_path / "other")
        other_pub = (tmp_path / "other" / "audit_ed25519.pub").read_bytes()
        (tmp_path / "data" / "audit_ed25519.pub").write_bytes(other_pub)
        log = make_log()
        log.append_now([draft(0)])
        with pytest.raises(ConfigError, match="does not hold the public half"):
            log.checkpoint()

    def test_an_idle_log_does_not_import_cryptography(self, tmp_path: Path) -> None:
        """Making a log and appending below checkpoint_every leaves cryptography unloaded: an
        idle daemon does not carry it (~11 MB)."""
        load_or_create_key(tmp_path / "data")
        code = f"""
import sys
from pathlib import Path
from grace.audit import AuditDraft, AuditLog
from grace.store import open_store
store = open_store("sqlite:///{tmp_path / "grace.db"}")
log = AuditLog(store.engine, Path({str(tmp_path / "data")!r}), mirror_path=Path({str(tmp_path / "m.jsonl")!r}))
log.append_now([AuditDraft("runner", "step.finished", "run_1", {{}})])
print([m for m in sys.modules if m.startswith("cryptography")])
"""
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "[]"


class TestVerifyShortcut:
    def test_log_verify_uses_the_installation_key(
        self, make_log: Callable[..., AuditLog], tamper: Tamper
    ) -> None:
        """AuditLog.verify() checks the chain and signatures under its own public key."""
        log = make_log(checkpoint_every=5)
        log.append_now([draft(i) for i in range(12)])
        report = log.verify()
        assert report.ok
        assert report.signatures_checked == 1
        tamper("UPDATE audit_log SET subject = 'x' WHERE seq = 3")
        assert log.verify().first_bad_seq == 3


class TestExport:
    def test_export_verifies_with_the_documented_twenty_lines(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """The JSONL export re-verifies with nothing but hashlib and json (docs/audit.md)."""
        log = make_log()
        log.append_now([draft(i) for i in range(20)])
        log.append_now([AuditDraft("cli:alice", "run.approved", 'quote"d\n', {"z": [1.5, None]})])
        out = io.StringIO()
        assert log.export(out) == 21
        assert auditor_verify(out.getvalue().splitlines()) == 21
        partial = io.StringIO()
        assert log.export(partial, from_seq=20) == 2

    def test_exported_checkpoints_verify_with_the_public_key(
        self, make_log: Callable[..., AuditLog], tmp_path: Path
    ) -> None:
        """Checkpoints export as JSONL an auditor checks with the .pub file alone."""
        log = make_log(checkpoint_every=10)
        for start in range(0, 30, 10):
            log.append_now([draft(i) for i in range(start, start + 10)])
        entries, checkpoints = io.StringIO(), io.StringIO()
        log.export(entries)
        assert log.export_checkpoints(checkpoints) == 3
        pem = (tmp_path / "data" / "audit_ed25519.pub").read_bytes()
        assert auditor_check_checkpoints(entries.getvalue(), checkpoints.getvalue(), pem) == 3

    def test_engine_level_export_needs_no_key(
        self, make_log: Callable[..., AuditLog], db_engine: Engine
    ) -> None:
        """export_jsonl(engine, out) (what `grace audit export` calls) equals AuditLog.export."""
        log = make_log(checkpoint_every=5)
        log.append_now([draft(i) for i in range(7)])
        via_log, via_engine = io.StringIO(), io.StringIO()
        log.export(via_log, from_seq=2)
        assert export_jsonl(db_engine, via_engine, from_seq=2) == 6
        assert via_engine.getvalue() == via_log.getvalue()
        checkpoints = io.StringIO()
        assert export_checkpoints_jsonl(db_engine, checkpoints) == 1
        assert json.loads(checkpoints.getvalue())["seq"] == 7


def auditor_verify(lines: list[str]) -> int:
    """The verification an auditor can write without Grace (kept equal to docs/audit.md)."""
    prev = "0" * 64
    for number, line in enumerate(lines, start=1):
        e = json.loads(line)
        assert e["seq"] == number, f"entry {number} is missing"
        assert e["prev_hash"] == prev, f"entry {number} does not chain"
        entry = {k: e[k] for k in ("seq", "time", "actor", "action", "subject", "payload")}
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((prev + "\n" + text).encode("utf-8")).hexdigest()
        assert digest == e["hash"], f"entry {number} was edited"
        prev = digest
    return len(lines)


def auditor_check_checkpoints(entries: str, checkpoints: str, public_pem: bytes) -> int:
    """Checkpoint verification as docs/audit.md shows it."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public_key = load_pem_public_key(public_pem)
    hashes = {e["seq"]: e["hash"] for e in map(json.loads, entries.splitlines())}
    count = 0
    for cp in map(json.loads, checkpoints.splitlines()):
        message = f"{cp['seq']}:{cp['hash']}".encode("ascii")
        public_key.verify(bytes.fromhex(cp["signature"]), message)  # type: ignore[union-attr, call-arg]
        assert hashes[cp["seq"]] == cp["hash"], f"checkpoint {cp['seq']} does not match"
        count += 1
    return count
