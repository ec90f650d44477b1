"""The bundled knowledge base: each known startup failure is recognised in a real sample, and
only that one; a broken knowledge base file is an error naming file:line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from grace.knowledge import (
    KnowledgeBase,
    KnowledgeBaseError,
    load_knowledge,
    pattern_stats,
    write_stats,
)

SAMPLES = {
    "unicode_logging_crash": """\
        --- Logging error ---
        Traceback (most recent call last):
          File "C:\\Python311\\Lib\\logging\\__init__.py", line 1113, in emit
            stream.write(msg + self.terminator)
          File "C:\\Python311\\Lib\\encodings\\cp1252.py", line 19, in encode
            return codecs.charmap_encode(input,self.errors,encoding_table)[0]
        UnicodeEncodeError: 'charmap' codec can't encode character '\\u2705' in position 0: character maps to <undefined>
        Call stack:
          File "guardian/main.py", line 12, in <module>
        Message: 'guardian started'
        """,
    "schema_mismatch": """\
        Traceback (most recent call last):
          File "app/db.py", line 42, in load_missions
            rows = conn.execute("SELECT id, priority FROM missions").fetchall()
        sqlite3.OperationalError: no such column: priority
        """,
    "playbook_missing_risk_fields": """\
        Traceback (most recent call last):
          File "guardian/playbooks/loader.py", line 88, in load_playbook
            risk = meta["risk_level"]
                   ~~~~^^^^^^^^^^^^^^
        KeyError: 'risk_level'
        """,
    "circular_import": """\
        Traceback (most recent call last):
          File "<string>", line 1, in <module>
          File "/srv/app/models.py", line 1, in <module>
            from app.missions import Mission
          File "/srv/app/missions.py", line 1, in <module>
            from app.models import Base
        ImportError: cannot import name 'Base' from partially initialized module 'app.models' (most likely due to a circular import) (/srv/app/models.py)
        """,
    "database_locked": """\
        Traceback (most recent call last):
          File "vectors/store.py", line 77, in add
            cur.execute("INSERT INTO vectors VALUES (?, ?)", row)
        sqlite3.OperationalError: database is locked
        """,
    "unawaited_coroutine": """\
        /srv/app/main.py:14: RuntimeWarning: coroutine 'Guardian.start' was never awaited
          guardian.start()
        RuntimeWarning: Enable tracemalloc to get the object allocation traceback
        """,
    "missing_env_secret": """\
        Traceback (most recent call last):
          File "app/settings.py", line 5, in <module>
            TOKEN = os.environ["GITHUB_TOKEN"]
                    ~~~~~~~~~~^^^^^^^^^^^^^^^^
          File "<frozen os>", line 679, in __getitem__
        KeyError: 'GITHUB_TOKEN'
        """,
    "missing_module": """\
        Traceback (most recent call last):
          File "app/search.py", line 3, in <module>
            import faiss
        ModuleNotFoundError: No module named 'faiss'
        """,
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def test_seven_patterns_shipped(kb: KnowledgeBase) -> None:
    """The bundled file holds the seeds' seven startup failures (then missing_module), each
    with every field."""
    assert [p.id for p in kb.patterns] == list(SAMPLES)
    for pattern in kb.patterns:
        expected = "missing_module_recovery" if pattern.id == "missing_module" else "boot_fix_"
        assert pattern.fix_playbook.startswith(expected)
        assert pattern.root_cause
        assert pattern.verification


@pytest.mark.parametrize("pattern_id", list(SAMPLES))
def test_each_sample_matches_only_its_pattern(kb: KnowledgeBase, pattern_id: str) -> None:
    """A realistic traceback or log of each failure is classified as that failure alone."""
    found = kb.classify(textwrap.dedent(SAMPLES[pattern_id]))
    assert [m.id for m in found] == [pattern_id]


@pytest.mark.parametrize(
    ("pattern_id", "captures"),
    [
        ("unicode_logging_crash", {"codec": "charmap"}),
        ("schema_mismatch", {"column": "priority"}),
        ("playbook_missing_risk_fields", {"key": "risk_level"}),
        ("circular_import", {"name": "Base", "module": "app.models"}),
        ("unawaited_coroutine", {"coroutine": "Guardian.start"}),
        ("missing_env_secret", {"key": "GITHUB_TOKEN"}),
        ("missing_module", {"module": "faiss"}),
    ],
)
def test_captures(kb: KnowledgeBase, pattern_id: str, captures: dict[str, str]) -> None:
    """Named groups become captures (the fix playbook's vars); the excerpt is the error line."""
    (match,) = kb.classify(textwrap.dedent(SAMPLES[pattern_id]))
    assert match.captures == captures
    assert match.excerpt


def test_other_spellings(kb: KnowledgeBase) -> None:
    """PostgreSQL's missing column, a 'not set' message and a pydantic-less loader's message."""
    pg = 'psycopg.errors.UndefinedColumn: column "priority" of relation "missions" does not exist'
    assert [m.id for m in kb.classify(pg)] == ["schema_mismatch"]
    wrapped = "sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedColumn) column missions.priority does not exist"
    assert kb.classify(wrapped)[0].captures == {"pg_column": "missions.priority"}
    unset = "RuntimeError: environment variable OPENAI_API_KEY is not set"
    assert kb.classify(unset)[0].captures == {"variable": "OPENAI_API_KEY"}
    text = "ValueError: playbook 'faiss_lock_recovery' is missing required fields: risk_level"
    assert [m.id for m in kb.classify(text)] == ["playbook_missing_risk_fields"]
    assert kb.classify("all good\nKeyError: 'user_id'") == []


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD = """\
    version: 1
    patterns:
      - id: disk_full
        title: Disk full
        signature: 'No space left on device'
        root_cause: The disk is full.
        fix_playbook: clean_tmp
        risk: low
        autonomy_tier: 3
        verification: df shows free space.
    """


def test_bad_regex_names_file_and_line(tmp_path: Path) -> None:
    """A signature that is not a valid regex is reported at its file:line:column."""
    path = _write(tmp_path, GOOD.replace("'No space left on device'", "'No space (left'"))
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge(path)
    assert f"{path}:5:16: patterns.0.signature: not a valid regular expression" in str(info.value)
    assert info.value.problems[0].line == 5


def test_unknown_key_and_bad_values_reported_together(tmp_path: Path) -> None:
    """Every fault at once: a misspelt key (with a did-you-mean), a bad risk, a duplicate id."""
    body = textwrap.dedent(GOOD).replace("fix_playbook:", "fix_playbok:")
    body = body.replace("risk: low", "risk: tiny")
    body += body.split("patterns:\n")[1]
    path = _write(tmp_path, body)
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge(path)
    text = str(info.value)
    assert f"{path}:7:" in text
    assert "fix_playbok" in text
    assert "fix_playbook" in text
    assert f"{path}:8:" in text
    assert "tiny" in text
    assert "duplicate id 'disk_full'" in text
    assert info.value.exit_code == 2


def test_yaml_syntax_error(tmp_path: Path) -> None:
    """Broken YAML is reported with its line."""
    path = _write(tmp_path, "version: 1\npatterns: [\n")
    with pytest.raises(KnowledgeBaseError, match=rf"{path}:\d+:\d+"):
        load_knowledge(path)


def test_success_rates_from_training_records(tmp_path: Path) -> None:
    """Rates come from the training records: fixed / applied; proposals and misses counted apart."""
    records = [
        [("database_locked", "applied", True), ("circular_import", "proposed", None)],
        [("database_locked", "applied", False)],
        [("database_locked", "missing_playbook", None)],
    ]
    for index, fixes in enumerate(records):
        record = {
            "finished_at": f"2026-01-0{index + 1}T00:00:00+00:00",
            "fixes": [{"pattern": p, "outcome": o, "verified": v} for p, o, v in fixes],
        }
        (tmp_path / f"boot_2026010{index + 1}_000000.json").write_text(json.dumps(record))
    (tmp_path / "boot_broken.json").write_text("{not json")
    stats = pattern_stats(tmp_path)
    locked = stats["database_locked"]
    assert (locked.seen, locked.applied, locked.fixed, locked.not_run) == (3, 2, 1, 1)
    assert locked.success_rate == 0.5
    assert locked.last_seen == "2026-01-03T00:00:00+00:00"
    assert stats["circular_import"].success_rate is None
    assert stats["circular_import"].proposed == 1
    out = tmp_path / "stats" / "s.json"
    write_stats(out, stats)
    assert json.loads(out.read_text())["database_locked"]["success_rate"] == 0.5
