"""The hash chain, pure: canonical JSON, linking, the time format, the JSONL form."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grace.audit import (
    GENESIS,
    AuditDraft,
    AuditEntry,
    canonical_entry,
    canonical_payload,
    format_time,
    link,
)
from grace.audit._verify import _scan
from grace.store._audit_sql import prepare

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(), json_values, max_size=6)
"""Any JSON object: unicode keys and strings, control characters, quotes, big ints, floats."""


def _reference(seq: int, time: str, actor: str, action: str, subject: str, payload: Any) -> str:
    entry = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": payload,
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class TestCanonicalJson:
    @given(
        seq=st.integers(min_value=1, max_value=2**62),
        time=st.text(),
        actor=st.text(),
        action=st.text(),
        subject=st.text(),
        payload=payloads,
    )
    def test_entry_equals_json_dumps_of_the_dict(
        self, seq: int, time: str, actor: str, action: str, subject: str, payload: Any
    ) -> None:
        """canonical_entry is json.dumps(sort_keys, compact, ensure_ascii=False) of the entry."""
        payload_json = canonical_payload(payload)
        got = canonical_entry(seq, time, actor, action, subject, payload_json)
        assert got == _reference(seq, time, actor, action, subject, payload)

    @given(payload=payloads)
    def test_payload_survives_a_json_round_trip(self, payload: Any) -> None:
        """Re-canonicalizing a parsed payload gives the same text (so exports re-verify)."""
        text = canonical_payload(payload)
        assert canonical_payload(json.loads(text)) == text
        assert text == json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def test_payload_keys_are_sorted_and_compact(self) -> None:
        """Key order in the input does not matter; no spaces; unicode kept as is."""
        assert canonical_payload({"b": 1, "a": [1, 2], "é": "ü"}) == '{"a":[1,2],"b":1,"é":"ü"}'
        assert canonical_payload({"a": 1, "b": 2}) == canonical_payload({"b": 2, "a": 1})

    def test_non_json_values_become_strings(self) -> None:
        """A datetime or a Path in a payload is written as its str(), not an error."""
        moment = datetime(2024, 5, 1, tzinfo=UTC)
        assert canonical_payload({"at": moment}) == '{"at":"2024-05-01 00:00:00+00:00"}'


class TestLink:
    def test_link_is_sha256_of_prev_hash_newline_canonical_entry(self) -> None:
        """The documented formula, spelled out."""
        entry = canonical_entry(
            1, "2024-05-01T00:00:00.000000Z", "engine", "run.created", "r1", "{}"
        )
        expected = hashlib.sha256((GENESIS + "\n" + entry).encode("utf-8")).hexdigest()
        assert (
            link(GENESIS, 1, "2024-05-01T00:00:00.000000Z", "engine", "run.created", "r1", "{}")
            == expected
        )

    @given(actor=st.text(), payload=payloads)
    def test_any_change_changes_the_hash(self, actor: str, payload: Any) -> None:
        """Changing the seq, the previous hash or a field gives a different hash."""
        payload_json = canonical_payload(payload)
        base = link(GENESIS, 7, "t", actor, "a", "s", payload_json)
        assert base != link(GENESIS, 8, "t", actor, "a", "s", payload_json)
        assert base != link("1" * 64, 7, "t", actor, "a", "s", payload_json)
        assert base != link(GENESIS, 7, "t", actor + "x", "a", "s", payload_json)
        assert base != link(GENESIS, 7, "t", actor, "a", "s", payload_json + " ")

    def test_field_boundaries_cannot_be_shifted(self) -> None:
        """Moving text from one field to the next changes the hash (JSON quoting delimits)."""
        assert link(GENESIS, 1, "t", "ab", "c", "s", "{}") != link(
            GENESIS, 1, "t", "a", "bc", "s", "{}"
        )


class TestVerifyFastPath:
    @given(
        rows=st.lists(st.tuples(st.text(), st.text(), st.text(), payloads), min_size=1, max_size=8)
    )
    def test_fast_scan_accepts_exactly_what_link_accepts(
        self, rows: list[tuple[str, str, str, Any]]
    ) -> None:
        """verify's inlined hashing agrees with link() for any text, escapes included."""
        prev, page = GENESIS, []
        for seq, (actor, action, subject, payload) in enumerate(rows, start=1):
            payload_json = canonical_payload(payload)
            digest = link(
                prev, seq, "2024-05-01T00:00:00.000000Z", actor, action, subject, payload_json
            )
            page.append(
                (
                    seq,
                    "2024-05-01T00:00:00.000000Z",
                    actor,
                    action,
                    subject,
                    payload_json,
                    prev,
                    digest,
                )
            )
            prev = digest
        assert _scan(page, 1, GENESIS) == len(rows) + 1

    def test_fast_scan_stops_at_an_edited_row(self) -> None:
        """The row whose content no longer matches its hash is where the scan stops."""
        prev, page = GENESIS, []
        for seq in range(1, 6):
            digest = link(prev, seq, "t", "a", "b", "c", "{}")
            page.append((seq, "t", "a", "b", "c", "{}", prev, digest))
            prev = digest
        page[2] = (*page[2][:5], '{"x":1}', *page[2][6:])
        assert _scan(page, 1, GENESIS) == 3

    def test_fast_scan_treats_a_wrongly_typed_cell_as_bad(self) -> None:
        """A blob or NULL where text belongs fails that row instead of crashing verify."""
        digest = link(GENESIS, 1, "t", "a", "b", "c", "{}")
        assert _scan([(1, "t", b"a", "b", "c", "{}", GENESIS, digest)], 1, GENESIS) == 1
        assert _scan([(1, None, "a", "b", "c", "{}", GENESIS, digest)], 1, GENESIS) == 1


class TestFormatTime:
    def test_one_fixed_format(self) -> None:
        """UTC, six fractional digits, Z, whatever the input zone."""
        moment = datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
        assert format_time(moment) == "2024-05-01T12:00:00.000000Z"
        assert (
            format_time(datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC))
            == "2024-05-01T12:00:00.000005Z"
        )

    def test_naive_is_utc(self) -> None:
        """A naive datetime is read as UTC rather than as local time."""
        assert format_time(datetime(2024, 5, 1, 12)) == "2024-05-01T12:00:00.000000Z"


class TestEntryForms:
    @given(actor=st.text(), subject=st.text(), payload=payloads)
    def test_to_json_equals_json_dumps_of_to_dict(
        self, actor: str, subject: str, payload: Any
    ) -> None:
        """The mirror/export line is the JSON of to_dict(), built without re-parsing."""
        payload_json = canonical_payload(payload)
        digest = link(GENESIS, 3, "t", actor, "a.b", subject, payload_json)
        entry = AuditEntry(3, "t", actor, "a.b", subject, payload_json, GENESIS, digest)
        assert json.loads(entry.to_json()) == entry.to_dict()
        assert entry.to_json() == json.dumps(
            entry.to_dict(), ensure_ascii=False, separators=(",", ":")
        )
        assert entry.payload == payload


class TestPrepare:
    def test_returns_the_canonical_payload(self) -> None:
        """A draft becomes (actor, action, subject, canonical payload)."""
        draft = AuditDraft("engine", "run.created", "run_1", {"b": 2, "a": 1})
        assert prepare(draft) == ("engine", "run.created", "run_1", '{"a":1,"b":2}')

    @pytest.mark.parametrize(
        ("draft", "error"),
        [
            (AuditDraft("engine", "run.created", "r", {1: "a", "b": 2}), TypeError),  # type: ignore[dict-item]
            (AuditDraft("engine", "x" * 101, "r"), ValueError),
            (AuditDraft("engine", "run.created", "r\x00"), ValueError),
            (AuditDraft("engine", "run.created", "r", {"s": "\ud800"}), ValueError),
            (AuditDraft(42, "run.created", "r"), TypeError),  # type: ignore[arg-type]
        ],
        ids=["unsortable-keys", "too-long", "nul", "lone-surrogate", "not-a-string"],
    )
    def test_refuses_what_the_database_would(
        self, draft: AuditDraft, error: type[Exception]
    ) -> None:
        """Bad drafts fail at prepare(), before they can spoil anyone's batch."""
        with pytest.raises(error):
            prepare(draft)
