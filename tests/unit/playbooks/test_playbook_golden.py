"""Golden tests: every broken playbook in ``tests/fixtures/playbooks/invalid`` fails with
exactly the text in its ``.expected.txt``; every playbook in ``valid`` loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.actions import ActionRegistry
from grace.errors import PlaybookError
from grace.playbooks import load_file, load_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "playbooks"

INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))

REQUIRED_CASES = (
    "bad_yaml",
    "unknown_key",
    "unknown_action",
    "param_out_of_bounds",
    "bad_regex",
    "bad_cron",
    "bad_when",
    "bad_condition",
    "duplicate_step_names",
    "undefined_step_reference",
    "undefined_output_key",
    "misspelled_root",
    "misspelled_event_field",
    "missing_required_field",
    "wrong_type",
    "three_faults",
)


def test_corpus_covers_every_required_fault() -> None:
    """The corpus holds a file for each fault class the loader promises to catch."""
    names = {path.stem for path in INVALID}
    assert set(REQUIRED_CASES) <= names, sorted(set(REQUIRED_CASES) - names)


def test_every_invalid_file_has_its_expected_text() -> None:
    """No broken playbook lacks its golden ``.expected.txt`` (and no golden file is orphaned)."""
    expected = {p.name.removesuffix(".expected.txt") for p in (FIXTURES / "invalid").glob("*.txt")}
    assert expected == {p.stem for p in INVALID}


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_playbook_reports_the_expected_problems(
    path: Path, registry: ActionRegistry
) -> None:
    """Loading fails with exactly the golden text: file:line:col, message, hint."""
    with pytest.raises(PlaybookError) as caught:
        load_text(path.read_text(encoding="utf-8"), file=path.name, registry=registry)
    expected = path.with_name(f"{path.stem}.expected.txt").read_text(encoding="utf-8")
    assert str(caught.value) + "\n" == expected


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_every_problem_is_placed_and_fully_formed(path: Path, registry: ActionRegistry) -> None:
    """Each problem names the file, a real line and column, and a non-empty message."""
    with pytest.raises(PlaybookError) as caught:
        load_text(path.read_text(encoding="utf-8"), file=path.name, registry=registry)
    lines = path.read_text(encoding="utf-8").count("\n") + 1
    for problem in caught.value.problems:
        assert problem.file == path.name
        assert 1 <= problem.line <= lines
        assert problem.column >= 1
        assert problem.message
        assert "\n" not in problem.message


def test_three_faults_are_reported_together(registry: ActionRegistry) -> None:
    """A file with three unrelated faults reports all three in one error, in file order."""
    path = FIXTURES / "invalid" / "three_faults.yaml"
    with pytest.raises(PlaybookError) as caught:
        load_file(path, registry=registry)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["triggers.0.pattern", "steps.0.action", "steps.1.with.seconds"]
    assert [p.line for p in caught.value.problems] == [4, 7, 11]


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_playbook_loads(path: Path, registry: ActionRegistry) -> None:
    """Every valid fixture loads, with its file recorded and a line for each step."""
    playbook = load_file(path, registry=registry)
    assert playbook.file == str(path)
    for index in range(len(playbook.steps)):
        assert playbook.line_of(f"steps.{index}") > 0
