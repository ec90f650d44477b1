"""``verify`` against a real database tampered with behind Grace's back (raw SQL).

Each test writes a 100-entry chain (transactions of 10, a signed checkpoint at 50 and at 100),
edits the tables directly, and checks that verify names the right seq.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from grace.audit import (
    AuditDraft,
    AuditEntry,
    AuditLog,
    SigningKey,
    VerifyReport,
    canonical_payload,
    link,
    load_or_create_key,
    verify,
)
from grace.errors import AuditError
from grace.store import _audit_sql

Tamper = Callable[[str], None]
"""The ``tamper`` fixture: raw SQL on the test database."""

N = 100


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    """The installation's checkpoint key."""
    return load_or_create_key(tmp_path / "data")


@pytest.fixture
def chain(db_engine: Engine, key: SigningKey, tmp_path: Path) -> list[AuditEntry]:
    """100 entries in transactions of 10; checkpoints signed at 50 and 100."""
    log = AuditLog(
        db_engine, tmp_path / "data", mirror_path=tmp_path / "m.jsonl", checkpoint_every=50, key=key
    )
    entries: list[AuditEntry] = []
    for start in range(0, N, 10):
        drafts = [
            AuditDraft("runner", "step.finished", f"run_{i}", {"i": i, "ok": True})
            for i in range(start, start + 10)
        ]
        entries += log.append_now(drafts)
    log.close()
    with db_engine.connect() as conn:
        assert [cp.seq for cp in _audit_sql.list_checkpoints(conn)] == [50, 100]
    return entries


def check(engine: Engine, key: SigningKey) -> VerifyReport:
    return verify(engine, public_keys={key.key_id: key.public_key})


def assert_bad(report: VerifyReport, seq: int | None, *phrases: str) -> None:
    assert not report.ok, report
    assert report.first_bad_seq == seq, report.problem
    assert report.problem is not None
    for phrase in phrases:
        assert phrase in report.problem, report.problem


def sql_row(entry: AuditEntry) -> str:
    values = (
        entry.seq,
        entry.time,
        entry.actor,
        entry.action,
        entry.subject,
        entry.payload_json,
        entry.prev_hash,
        entry.hash,
    )
    cells = ", ".join(
        str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in values
    )
    columns = "seq, time, actor, action, subject, payload, prev_hash, hash"
    return f"INSERT INTO audit_log ({columns}) VALUES ({cells})"


class TestIntact:
    def test_untouched_chain_verifies(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry]
    ) -> None:
        """Every entry, the head and both signed checkpoints check out."""
        report = check(db_engine, key)
        assert report.ok, report.problem
        assert (report.entries_checked, report.head_seq) == (N, N)
        assert (report.checkpoints_checked, report.signatures_checked) == (2, 2)
        assert report.bad_checkpoints == ()
        assert report.first_bad_seq is None
        report.raise_for_problem()

    def test_empty_database_verifies(self, db_engine: Engine, key: SigningKey) -> None:
        """A fresh install has nothing to verify, and that is fine."""
        report = check(db_engine, key)
        assert report.ok
        assert report.entries_checked == 0

    def test_progress_reports_pages(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry]
    ) -> None:
        """The progress callback sees the count grow to the head."""
        seen: list[tuple[int, int]] = []
        verify(
            db_engine,
            public_keys=None,
            progress=lambda done, total: seen.append((done, total)),
            batch=30,
        )
        assert seen[-1] == (N, N)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)


class TestTamperedEntries:
    @pytest.mark.parametrize(
        "assignment",
        [
            'payload = \'{"i":41,"ok":false}\'',
            "actor = 'mallory'",
            "action = 'step.skipped'",
            "subject = 'run_other'",
            "time = '2020-01-01T00:00:00.000000Z'",
        ],
        ids=["payload", "actor", "action", "subject", "time"],
    )
    def test_edited_row_is_named(
        self,
        db_engine: Engine,
        key: SigningKey,
        chain: list[AuditEntry],
        tamper: Tamper,
        assignment: str,
    ) -> None:
        """UPDATE one column of seq 42: verify fails and names entry 42 as edited."""
        tamper(f"UPDATE audit_log SET {assignment} WHERE seq = 42")
        report = check(db_engine, key)
        assert_bad(report, 42, "entry 42 was edited")
        assert report.entries_checked == 41
        with pytest.raises(AuditError, match="entry 42"):
            report.raise_for_problem()

    def test_deleted_row_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """DELETE seq 42: verify names 42 as missing."""
        tamper("DELETE FROM audit_log WHERE seq = 42")
        assert_bad(check(db_engine, key), 42, "entry 42 is missing (seq jumps from 41 to 43)")

    def test_deleted_range_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Deleting several rows names the whole hole."""
        tamper("DELETE FROM audit_log WHERE seq BETWEEN 42 AND 44")
        assert_bad(check(db_engine, key), 42, "entries 42..44 are missing")

    def test_deleted_first_row_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """The first entry can be missing too."""
        tamper("DELETE FROM audit_log WHERE seq = 1")
        assert_bad(check(db_engine, key), 1, "entry 1 is missing")

    def test_swapped_rows_are_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Swapping the positions of entries 10 and 20 breaks the chain at 10."""
        tamper(
            "UPDATE audit_log SET seq = -1 WHERE seq = 10;\n"
            "UPDATE audit_log SET seq = 10 WHERE seq = 20;\n"
            "UPDATE audit_log SET seq = 20 WHERE seq = -1;\n"
        )
        assert_bad(
            check(db_engine, key), 10, "entry 10 does not chain to entry 9", "original entry 20"
        )

    def test_swapped_contents_are_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Swapping two rows' payloads shows as an edit of the first of them."""
        a, b = chain[29], chain[59]
        tamper(
            f"UPDATE audit_log SET payload = '{b.payload_json}' WHERE seq = 30;\n"
            f"UPDATE audit_log SET payload = '{a.payload_json}' WHERE seq = 60;\n"
        )
        assert_bad(check(db_engine, key), 30, "entry 30 was edited")

    def test_inserted_row_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """A forged, correctly hashed row slipped in at 42 (the rest renumbered) is found."""
        payload = canonical_payload({"approved": True})
        time = chain[40].time
        digest = link(chain[40].hash, 42, time, "mallory", "run.approved", "run_x", payload)
        forged = AuditEntry(
            42, time, "mallory", "run.approved", "run_x", payload, chain[40].hash, digest
        )
        tamper(
            "UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 42;\n"
            "UPDATE audit_log SET seq = -seq WHERE seq < 0;\n"
            f"{sql_row(forged)};\n"
            f"UPDATE audit_head SET seq = {N + 1} WHERE id = 1;\n"
        )
        assert_bad(
            check(db_engine, key), 42, "entry 42 was inserted", "entry 43 is the original entry 42"
        )

    def test_deleted_and_renumbered_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Deleting 42 and closing the gap by renumbering is still caught at 42."""
        tamper(
            "DELETE FROM audit_log WHERE seq = 42;\n"
            "UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 42;\n"
            "UPDATE audit_log SET seq = -seq WHERE seq < 0;\n"
            f"UPDATE audit_head SET seq = {N - 1} WHERE id = 1;\n"
        )
        assert_bad(check(db_engine, key), 42, "does not chain to entry 41", "original entry 43")

    def test_rewritten_row_with_recomputed_hash_is_named(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Editing 42 and fixing its hash too is caught by entry 43's link."""
        old = chain[41]
        payload = canonical_payload({"i": 41, "ok": False})
        digest = link(old.prev_hash, 42, old.time, old.actor, old.action, old.subject, payload)
        tamper(f"UPDATE audit_log SET payload = '{payload}', hash = '{digest}' WHERE seq = 42")
        assert_bad(check(db_engine, key), 42, "entry 42 was rewritten")

    def test_rewritten_tail_is_caught_by_the_signed_checkpoint(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Re-hashing everything from 60 on (head included) still fails the checkpoint at 100."""
        statements, prev = [], chain[58].hash
        for entry in chain[59:]:
            payload = '{"i":0,"ok":false}' if entry.seq == 60 else entry.payload_json
            digest = link(
                prev, entry.seq, entry.time, entry.actor, entry.action, entry.subject, payload
            )
            statements.append(
                f"UPDATE audit_log SET payload = '{payload}', prev_hash = '{prev}', "
                f"hash = '{digest}' WHERE seq = {entry.seq};\n"
            )
            prev = digest
        statements.append(f"UPDATE audit_head SET hash = '{prev}' WHERE id = 1;\n")
        tamper("".join(statements))
        report = check(db_engine, key)
        assert_bad(report, 51, "entries 51..100 were rewritten", "checkpoint signed at seq 100")
        assert report.bad_checkpoints == (100,)

    @pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)  # only SQLite allows it
    def test_wrongly_typed_cell_is_an_edit(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """A blob stored where text belongs (SQLite allows it) is reported, not a crash."""
        tamper("UPDATE audit_log SET actor = X'00ff' WHERE seq = 7")
        assert_bad(check(db_engine, key), 7, "entry 7 was edited")


class TestTamperedTail:
    def test_deleted_tail_is_caught_by_the_checkpoint(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Deleting entries 96..100 leaves a signed checkpoint at 100 pointing past the end."""
        tamper("DELETE FROM audit_log WHERE seq > 95")
        assert_bad(
            check(db_engine, key), 96, "checkpoint was signed at seq 100 but the last entry is 95"
        )

    def test_deleted_tail_is_caught_by_the_head(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """With the checkpoint deleted too, the head row still says 100."""
        tamper(
            "DELETE FROM audit_log WHERE seq > 95;\nDELETE FROM audit_checkpoints WHERE seq > 95;\n"
        )
        assert_bad(
            check(db_engine, key),
            96,
            "head says seq 100 but the last entry is 95 (entries deleted from the end)",
        )

    def test_entry_appended_behind_the_writer_is_caught(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """A correctly chained row added without moving the head is reported."""
        last = chain[-1]
        digest = link(last.hash, N + 1, last.time, "mallory", "run.approved", "x", "{}")
        tamper(
            sql_row(
                AuditEntry(
                    N + 1, last.time, "mallory", "run.approved", "x", "{}", last.hash, digest
                )
            )
        )
        assert_bad(check(db_engine, key), N + 1, "head says seq 100 but the log continues to 101")

    def test_deleted_head_row_is_reported(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Without its head row the chain cannot be trusted to be complete."""
        tamper("DELETE FROM audit_head")
        report = check(db_engine, key)
        assert not report.ok
        assert "audit_head row is missing" in (report.problem or "")

    def test_appending_after_the_head_was_deleted_is_refused(
        self, db_engine: Engine, chain: list[AuditEntry], tamper: Tamper, tmp_path: Path
    ) -> None:
        """The writer refuses to start a second chain over a log whose head vanished."""
        tamper("DELETE FROM audit_head")
        log = AuditLog(db_engine, tmp_path / "data", mirror_path=tmp_path / "m.jsonl")
        with pytest.raises(AuditError, match="audit_head row is missing"):
            log.append_now([AuditDraft("engine", "run.created", "r")])


class TestTamperedCheckpoints:
    def test_forged_signature_is_detected(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """A checkpoint whose signature was altered is bad, even though the chain is fine."""
        tamper(f"UPDATE audit_checkpoints SET signature = '{'00' * 64}' WHERE seq = 50")
        report = check(db_engine, key)
        assert not report.ok
        assert report.first_bad_seq is None
        assert report.bad_checkpoints == (50,)
        assert report.problem == "checkpoint at seq 50 has an invalid signature (forged or altered)"

    def test_altered_checkpoint_hash_is_detected(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """Pointing a checkpoint at another hash breaks its signature."""
        tamper(f"UPDATE audit_checkpoints SET hash = '{chain[10].hash}' WHERE seq = 50")
        report = check(db_engine, key)
        assert report.bad_checkpoints == (50,)
        assert not report.ok

    def test_checkpoint_signed_by_another_key_is_detected(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry], tmp_path: Path
    ) -> None:
        """A checkpoint made with an attacker's key does not pass under the real public key."""
        other = load_or_create_key(tmp_path / "mallory")
        with db_engine.begin() as conn:
            _audit_sql.insert_checkpoint(conn, other.sign(70, chain[69].hash, "t"))
        report = check(db_engine, key)
        assert report.bad_checkpoints == (70,)
        assert "unknown key" in (report.problem or "")

    def test_validly_signed_checkpoint_the_chain_lacks(
        self, db_engine: Engine, key: SigningKey, chain: list[AuditEntry]
    ) -> None:
        """A genuine checkpoint over a hash the chain does not hold at that seq is a mismatch."""
        with db_engine.begin() as conn:
            _audit_sql.insert_checkpoint(conn, key.sign(70, chain[68].hash, "t"))
        report = check(db_engine, key)
        assert_bad(report, 51, "entries 51..70 were rewritten")
        assert 70 in report.bad_checkpoints

    def test_without_keys_signatures_are_not_checked(
        self, db_engine: Engine, chain: list[AuditEntry], tamper: Tamper
    ) -> None:
        """public_keys=None checks the chain and checkpoint hashes only."""
        tamper(f"UPDATE audit_checkpoints SET signature = '{'00' * 64}' WHERE seq = 50")
        report = verify(db_engine, public_keys=None)
        assert report.ok
        assert (report.signatures_checked, report.checkpoints_checked) == (0, 2)
