"""Verify the audit chain and its signed checkpoints, and name the first entry that is wrong.

One pass over the rows in seq order, inside one read snapshot (writers are not blocked). For
each row, in this order:

1. its seq follows the previous one (else: entries are missing);
2. its ``prev_hash`` is the previous row's ``hash`` (else: reordered, inserted or renumbered
   rows, or the previous entry was rewritten together with its hash);
3. its ``hash`` is ``link(prev_hash, seq, time, actor, action, subject, payload)`` (else: the
   row was edited).

Then the tail: the head row and every checkpoint must agree with the chain (a head or a signed
checkpoint past the last entry means entries were deleted from the end), and every checkpoint's
Ed25519 signature must hold under a known public key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grace.audit._chain import GENESIS, Checkpoint, link
from grace.audit._signing import verify_checkpoint
from grace.errors import AuditError
from grace.store import _audit_sql

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy import Engine

__all__ = ("Progress", "VerifyReport", "verify")

Progress = Callable[[int, int], None]
"""Called after each page with ``(entries_checked, entries_expected)``."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found."""

    ok: bool
    """True when the chain, the head and every checkpoint check out."""
    entries_checked: int
    """Entries verified before the first problem (all of them when ``ok``)."""
    first_bad_seq: int | None
    """The first entry that is wrong or missing; None when ``ok`` or when only a checkpoint
    signature (not the chain) is bad."""
    problem: str | None
    """The first problem, as a sentence naming the seq; None when ``ok``."""
    checkpoints_checked: int
    """Checkpoints compared with the chain (and signature-checked when keys were given)."""
    bad_checkpoints: tuple[int, ...]
    """Seqs of checkpoints with a bad signature, an unknown key, or a hash the chain lacks."""
    duration_s: float
    """Wall time of the whole verification."""
    head_seq: int = 0
    """The seq the head row records."""
    signatures_checked: int = 0
    """Checkpoint signatures checked (0 when no public keys were given)."""
    checkpoint_problems: tuple[str, ...] = ()
    """One sentence per bad checkpoint."""

    def raise_for_problem(self) -> None:
        """Raise :class:`~grace.errors.AuditError` unless the chain verified."""
        if not self.ok:
            raise AuditError(self.problem or "the audit log does not verify")


def verify(
    engine: Engine,
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None,
    progress: Progress | None = None,
    batch: int = 2_000,
) -> VerifyReport:
    """Check the whole chain in ``engine``'s database.

    Args:
        engine: the store's engine (SQLite or PostgreSQL).
        public_keys: public keys by key id; None checks the chain and compares checkpoint hashes
            but skips signatures.
        progress: called after each page of ``batch`` rows.
        batch: rows per page.
    """
    started = time.perf_counter()
    with _audit_sql.snapshot(engine) as snap:
        head = snap.head()
        checkpoints = snap.checkpoints()
        head_seq = 0 if head is None else head[0]
        bad_cps: dict[int, str] = {}
        signatures = 0
        if public_keys is not None:
            for cp in checkpoints:
                signatures += 1
                problem = _signature_problem(cp, public_keys)
                if problem:
                    bad_cps[cp.seq] = problem
        trusted = [cp for cp in checkpoints if cp.seq not in bad_cps]
        walk = _Walk(trusted, head, head_seq, progress)
        for page in snap.pages(1, batch):
            if not walk.page(page):
                break
    if walk.problem is None:
        walk.finish()
    for seq, problem in walk.checkpoint_mismatches.items():
        bad_cps.setdefault(seq, problem)
    problem, first_bad = walk.problem, walk.first_bad
    if problem is None and bad_cps:
        problem = bad_cps[min(bad_cps)]
    return VerifyReport(
        ok=problem is None,
        entries_checked=walk.checked,
        first_bad_seq=first_bad,
        problem=problem,
        checkpoints_checked=walk.checkpoints_compared,
        bad_checkpoints=tuple(sorted(bad_cps)),
        duration_s=time.perf_counter() - started,
        head_seq=head_seq,
        signatures_checked=signatures,
        checkpoint_problems=tuple(bad_cps[s] for s in sorted(bad_cps)),
    )


def _signature_problem(cp: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    key = keys.get(cp.key_id)
    if key is None:
        return (
            f"checkpoint at seq {cp.seq} is signed by unknown key {cp.key_id!r} "
            f"(known: {', '.join(sorted(keys)) or 'none'})"
        )
    if not verify_checkpoint(key, cp):
        return f"checkpoint at seq {cp.seq} has an invalid signature (forged or altered)"
    return None


def _scan(page: Sequence[Any], expect: int, prev: str) -> int:
    """Verify rows in a tight loop; return the seq expected next (stops at the first bad row)."""
    sha256 = hashlib.sha256
    try:
        for seq, t, actor, action, subject, payload, prev_hash, digest in page:
            if seq != expect or prev_hash != prev:
                return expect
            # canonical_entry() + link() inlined, quoting strings without escaping: exact for
            # the usual plain strings, and any mismatch is re-checked with the real link().
            text = (
                f'{prev_hash}\n{{"action":"{action}","actor":"{actor}","payload":{payload},'
                f'"seq":{seq},"subject":"{subject}","time":"{t}"}}'
            )
            if sha256(text.encode()).hexdigest() != digest and (
                link(prev_hash, seq, t, actor, action, subject, payload) != digest
            ):
                return expect
            prev = digest
            expect += 1
    except (TypeError, ValueError, UnicodeError):
        # A tampered cell of the wrong type (a blob, a NULL): that row is the bad one.
        return expect
    return expect


def _content_ok(row: Any, seq: int | None = None) -> bool:
    """Whether ``row`` hashes to its own ``hash`` (as if it had ``seq``, when given)."""
    try:
        at, t, actor, action, subject, payload, prev_hash, digest = row
        return bool(
            link(prev_hash, at if seq is None else seq, t, actor, action, subject, payload)
            == digest
        )
    except (TypeError, ValueError, UnicodeError):
        return False


_RENUMBER_SEARCH = 16
"""How far from its seq ``verify`` looks for a row's original seq when diagnosing a break."""


def _original_seq(row: Any) -> int | None:
    """The seq a renumbered row was written with, if it is within the search distance."""
    seq = row[0]
    if not isinstance(seq, int):
        return None
    for distance in range(1, _RENUMBER_SEARCH + 1):
        for candidate in (seq - distance, seq + distance):
            if candidate > 0 and _content_ok(row, candidate):
                return candidate
    return None


class _Walk:
    """State of one pass over the chain."""

    def __init__(
        self,
        checkpoints: list[Checkpoint],
        head: tuple[int, str] | None,
        head_seq: int,
        progress: Progress | None,
    ) -> None:
        self.checkpoints = checkpoints
        self.next_cp = 0
        self.head = head
        self.expected_total = head_seq
        self.progress = progress
        self.expect = 1
        self.prev = GENESIS
        self.checked = 0
        self.last_anchor = 0
        """Highest seq proven by a matching checkpoint: entries up to it are known good."""
        self.checkpoints_compared = 0
        self.checkpoint_mismatches: dict[int, str] = {}
        self.problem: str | None = None
        self.first_bad: int | None = None

    def _fail(self, seq: int, problem: str) -> bool:
        self.first_bad, self.problem = seq, problem
        return False

    def page(self, page: Sequence[Any]) -> bool:
        """Verify one page; False once a problem is found."""
        start = self.expect
        end = _scan(page, start, self.prev)
        good = end - start
        if good:
            self.prev = page[good - 1][7]
            self.checked += good
            self.expect = end
            if not self._compare_checkpoints(page, start, end - 1):
                return False
        if self.progress is not None:
            self.progress(self.checked, self.expected_total)
        if good < len(page):
            return self._diagnose(page[good])
        return True

    def _compare_checkpoints(self, page: Sequence[Any], first: int, last: int) -> bool:
        cps = self.checkpoints
        while self.next_cp < len(cps) and cps[self.next_cp].seq <= last:
            cp = cps[self.next_cp]
            self.next_cp += 1
            if cp.seq < first:  # seq 0 or a duplicate: nothing in the chain to compare
                self.checkpoint_mismatches[cp.seq] = (
                    f"checkpoint at seq {cp.seq} names no entry of the chain"
                )
                continue
            self.checkpoints_compared += 1
            if page[cp.seq - first][7] == cp.hash:
                self.last_anchor = cp.seq
                continue
            self.checkpoint_mismatches[cp.seq] = (
                f"checkpoint at seq {cp.seq} does not match entry {cp.seq}"
            )
            return self._fail(
                self.last_anchor + 1,
                f"entries {self.last_anchor + 1}..{cp.seq} were rewritten: the chain is "
                f"self-consistent but entry {cp.seq}'s hash differs from the checkpoint signed "
                f"at seq {cp.seq} (entries up to {self.last_anchor} match an earlier checkpoint)",
            )
        return True

    def _diagnose(self, row: Any) -> bool:
        seq, prev_hash = row[0], row[6]
        expect = self.expect
        if seq != expect:
            if expect == 1:
                return self._fail(1, f"entry 1 is missing (the log starts at seq {seq})")
            missing = (
                f"entry {expect} is" if seq == expect + 1 else f"entries {expect}..{seq - 1} are"
            )
            return self._fail(expect, f"{missing} missing (seq jumps from {expect - 1} to {seq})")
        if prev_hash != self.prev:
            if expect == 1:
                return self._fail(1, "entry 1 does not start from the genesis hash (replaced)")
            if _content_ok(row):
                return self._fail(
                    expect - 1,
                    f"entry {expect - 1} was rewritten: its hash changed, and entry {expect} "
                    "still chains to the original",
                )
            original = _original_seq(row)
            if original is not None and original < expect:
                inserted = (
                    f"entry {original} was"
                    if original == expect - 1
                    else f"entries {original}..{expect - 1} were"
                )
                return self._fail(
                    original,
                    f"{inserted} inserted: entry {expect} is the original entry {original}, "
                    "renumbered",
                )
            if original is not None:
                return self._fail(
                    expect,
                    f"entry {expect} does not chain to entry {expect - 1}: it is the original "
                    f"entry {original}, moved here (reordered, or entries deleted before it "
                    "and the rest renumbered)",
                )
            return self._fail(
                expect,
                f"entry {expect} does not chain to entry {expect - 1} "
                "(reordered, inserted or renumbered)",
            )
        return self._fail(expect, f"entry {expect} was edited: its hash does not match its content")

    def finish(self) -> None:
        """Tail checks, once every row verified: head row and checkpoints past the end."""
        last = self.expect - 1
        cps = self.checkpoints
        for cp in cps[self.next_cp :]:
            self.checkpoint_mismatches[cp.seq] = (
                f"checkpoint at seq {cp.seq} is past the last entry {last}"
            )
        if self.next_cp < len(cps):
            seq = cps[self.next_cp].seq
            self._fail(
                last + 1,
                f"a checkpoint was signed at seq {seq} but the last entry is {last} "
                "(entries deleted from the end)",
            )
            return
        if self.head is None:
            if last:
                self._fail(last, f"the audit_head row is missing (the log holds {last} entries)")
            return
        head_seq, head_hash = self.head
        if head_seq > last:
            self._fail(
                last + 1,
                f"head says seq {head_seq} but the last entry is {last} "
                "(entries deleted from the end)",
            )
        elif head_seq < last:
            self._fail(
                head_seq + 1,
                f"head says seq {head_seq} but the log continues to {last} "
                "(entries appended outside the audit writer)",
            )
        elif head_hash != (self.prev if last else GENESIS):
            self._fail(
                self.last_anchor + 1,
                f"the head records a different hash for entry {last}: entries "
                f"{self.last_anchor + 1}..{last} were rewritten",
            )
