"""Loading many playbooks: folders, duplicates, the bundled library, ``grace validate``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import grace
from grace.actions import ActionRegistry, default_registry
from grace.errors import GraceError
from grace.playbooks import bundled_dir, load_file, load_library, load_paths, validate_paths


def write(path: Path, name: str, message: str = "hi") -> Path:
    """A minimal valid playbook called ``name`` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"name: {name}\nsteps:\n  - {{name: a, action: log, with: {{message: {message}}}}}\n",
        encoding="utf-8",
    )
    return path


def test_load_paths_reads_folders_recursively_and_files(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    """Folders are searched recursively for .yaml/.yml; other and hidden files are skipped."""
    write(tmp_path / "lib" / "b.yaml", "beta")
    write(tmp_path / "lib" / "deep" / "a.yml", "alpha")
    write(tmp_path / "lib" / ".hidden.yaml", "hidden")
    write(tmp_path / "lib" / ".git" / "c.yaml", "in_git")
    (tmp_path / "lib" / "notes.txt").write_text("not yaml", encoding="utf-8")
    single = write(tmp_path / "single.yaml", "single")
    found, errors = load_paths([tmp_path / "lib", str(single)], registry=registry)
    assert errors == []
    assert sorted(found) == ["alpha", "beta", "single"]


def test_a_file_given_twice_is_loaded_once(tmp_path: Path, registry: ActionRegistry) -> None:
    """A folder and a file inside it do not make a duplicate-name error."""
    path = write(tmp_path / "a.yaml", "alpha")
    found, errors = load_paths([tmp_path, path], registry=registry)
    assert (list(found), errors) == (["alpha"], [])


def test_duplicate_names_across_files_name_both_files(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    """Two files with one playbook name: the first is kept, the second is an error naming both."""
    first = write(tmp_path / "1.yaml", "same")
    second = write(tmp_path / "2.yaml", "same")
    found, errors = load_paths([tmp_path], registry=registry)
    assert found["same"].file == str(first)
    (error,) = errors
    (problem,) = error.problems
    assert problem.file == str(second)
    assert (problem.line, problem.column, problem.field) == (1, 1, "name")
    assert problem.message == f"name: playbook name 'same' is already used by {first}:1"


def test_broken_files_do_not_stop_the_others(tmp_path: Path, registry: ActionRegistry) -> None:
    """One error per broken file; the good files still load."""
    write(tmp_path / "good.yaml", "good")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    found, errors = load_paths([tmp_path], registry=registry)
    assert list(found) == ["good"]
    assert len(errors) == 1
    assert errors[0].problems[0].file == str(tmp_path / "bad.yaml")


def test_validate_paths_flattens_every_problem(tmp_path: Path, registry: ActionRegistry) -> None:
    """``validate_paths`` returns all problems of all files, and [] when all is well."""
    write(tmp_path / "ok" / "good.yaml", "good")
    assert validate_paths([tmp_path / "ok"], registry=registry) == []
    (tmp_path / "bad" / "x.yaml").parent.mkdir()
    (tmp_path / "bad" / "x.yaml").write_text(
        "name: x\nsteps:\n  - {name: a, action: lgo, retries: -1}\n", encoding="utf-8"
    )
    problems = validate_paths([tmp_path / "bad", tmp_path / "missing"], registry=registry)
    assert [p.field for p in problems] == ["steps.0.action", "steps.0.retries", ""]
    assert problems[2].message == "no such file or folder"
    assert problems[2].file == str(tmp_path / "missing")


def test_bundled_dir_is_the_library_folder() -> None:
    """The bundled playbooks live in ``grace/library``."""
    assert bundled_dir() == Path(grace.__file__).parent / "library"
    assert (bundled_dir() / "log_and_notify.yaml").is_file()


def test_bundled_log_and_notify_loads(registry: ActionRegistry) -> None:
    """The bundled log_and_notify playbook is valid: manual trigger, a log then a notify step."""
    playbook = load_file(bundled_dir() / "log_and_notify.yaml", registry=registry, bundled=True)
    assert [t.type for t in playbook.spec.triggers] == ["manual"]
    assert [s.action for s in playbook.steps] == ["log", "notify"]
    assert playbook.spec.metadata.auto_trigger is False


def test_bundled_library_validates_against_the_built_in_actions() -> None:
    """Every bundled playbook passes ``grace validate`` with the real built-ins installed."""
    try:
        builtins = default_registry()
    except GraceError as exc:  # the built-ins are being written in parallel
        pytest.skip(f"built-in actions unavailable: {exc}")
    if not {"log", "notify"} <= set(builtins.names()):
        pytest.skip("built-in log/notify actions not registered yet")
    problems = validate_paths([bundled_dir()], registry=builtins)
    assert problems == [], "\n".join(str(p) for p in problems)


def test_user_playbook_overrides_a_bundled_one(tmp_path: Path, registry: ActionRegistry) -> None:
    """A user's playbook named like a bundled one replaces it, without an error."""
    write(tmp_path / "mine.yaml", "log_and_notify", message="customised")
    found, errors = load_library([tmp_path], registry=registry)
    assert not [e for e in errors if "log_and_notify" in str(e)]
    mine = found["log_and_notify"]
    assert mine.bundled is False
    assert mine.file == str(tmp_path / "mine.yaml")


def test_load_library_can_leave_out_the_bundled_playbooks(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    """``include_bundled=False`` loads only the given folders."""
    write(tmp_path / "mine.yaml", "mine")
    found, errors = load_library([tmp_path], registry=registry, include_bundled=False)
    assert (list(found), errors) == (["mine"], [])


def test_bundled_playbooks_are_marked_bundled(tmp_path: Path, registry: ActionRegistry) -> None:
    """Playbooks from the library folder carry ``bundled=True``; the user's do not."""
    write(tmp_path / "mine.yaml", "mine")
    found, _ = load_library([tmp_path], registry=registry)
    assert found["log_and_notify"].bundled is True
    assert found["mine"].bundled is False


def test_duplicates_among_user_files_are_still_errors(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    """Overriding applies to bundled playbooks only: two user files with one name is an error."""
    for folder in ("one", "two"):
        write(tmp_path / folder / "x.yaml", "log_and_notify")
    found, errors = load_library([tmp_path / "one", tmp_path / "two"], registry=registry)
    assert found["log_and_notify"].file == str(tmp_path / "one" / "x.yaml")
    assert any("already used by" in str(e) for e in errors)


def test_fixture_folder_of_valid_playbooks_loads_as_a_library(
    fixtures_dir: Path, tmp_path: Path, registry: ActionRegistry
) -> None:
    """The valid fixtures load together (unique names, no errors)."""
    shutil.copytree(fixtures_dir / "valid", tmp_path / "valid")
    found, errors = load_paths([tmp_path / "valid"], registry=registry)
    assert errors == []
    assert len(found) == len(list((tmp_path / "valid").glob("*.yaml")))
