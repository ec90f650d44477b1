"""`grace validate` with the real built-in actions: one precise error per fault, file:line:col."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grace.cli import main
from grace.playbooks import bundled_dir

FIXTURES = Path(__file__).parents[2] / "fixtures" / "playbooks"
LOCATION = re.compile(r"^(?P<file>[^:\s]+\.ya?ml):(?P<line>\d+):(?P<col>\d+): ")


def test_broken_corpus_reports_every_file_with_locations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every broken playbook yields at least one `file:line:col: message` line; exit code 1."""
    code = main(["validate", str(FIXTURES / "invalid")])
    out = capsys.readouterr().out
    assert code == 1
    located = [m for m in map(LOCATION.match, out.splitlines()) if m]
    files_with_errors = {Path(m["file"]).name for m in located}
    corpus = {p.name for p in (FIXTURES / "invalid").glob("*.yaml")}
    assert files_with_errors == corpus
    three = [m for m in located if m["file"].endswith("three_faults.yaml")]
    assert len(three) == 3  # all faults of a file, not only the first


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("bad_yaml.yaml", "bad_yaml.yaml:"),
        ("unknown_key.yaml", "unknown key 'timout_s'"),
        ("unknown_action.yaml", "unknown action 'servce.restart'"),
        ("param_out_of_bounds.yaml", "less than or equal to 3600, got 7200"),
        ("bad_regex.yaml", "invalid regex"),
        ("bad_cron.yaml", "cron"),
        ("bad_when.yaml", "invalid expression"),
        ("duplicate_step_names.yaml", "duplicate"),
    ],
)
def test_each_fault_class(capsys: pytest.CaptureFixture[str], fixture: str, expected: str) -> None:
    """The issue's fault classes each produce a located error naming the problem."""
    code = main(["validate", str(FIXTURES / "invalid" / fixture)])
    out = capsys.readouterr().out
    assert code == 1
    first = out.splitlines()[0]
    assert LOCATION.match(first), first
    assert expected in out


def test_bundled_library_and_valid_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """The bundled library validates cleanly against the real built-in actions."""
    assert main(["validate", str(bundled_dir())]) == 0
    assert "all playbooks are valid" in capsys.readouterr().out


def test_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A path that does not exist is a reported problem, not a crash."""
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().out
