"""The bundled ``syntax_repair`` playbook on a real code tree, through the real engine (execute mode).

The tree holds one file per fault: a UTF-8 BOM, mixed CRLF/LF endings, tab indentation with one
space-indented line (a ``TabError``), and a real syntax error (a missing colon). The mechanical
three are repaired byte for byte, with backups; the missing colon is left alone and ticketed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grace.cli import main

BOM_SRC = b"\xef\xbb\xbfdef greet(name):\n    return 'hi ' + name\n"
CRLF_SRC = b"x = 1\r\ny = 2\r\nz = x + y\n"
TABS_SRC = b"def total(a, b):\n\ts = a + b\n        t = s * 2\n\treturn t\n"  # TabError
BROKEN_SRC = b"def ok():\n    return 1\n\n\nif ok() == 1\n    print('yes')\n"

EXPECTED = {
    "pkg/bom.py": b"def greet(name):\n    return 'hi ' + name\n",
    "pkg/crlf.py": b"x = 1\r\ny = 2\r\nz = x + y\r\n",
    "pkg/tabs.py": b"def total(a, b):\n        s = a + b\n        t = s * 2\n        return t\n",
}
ORIGINAL = {"pkg/bom.py": BOM_SRC, "pkg/crlf.py": CRLF_SRC, "pkg/tabs.py": TABS_SRC}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A code tree with four faulty files and one clean one; Grace's dirs under tmp_path."""
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    for rel, data in ORIGINAL.items():
        (root / rel).write_bytes(data)
    (root / "pkg" / "tabs.py").chmod(0o640)
    (root / "pkg" / "broken.py").write_bytes(BROKEN_SRC)
    (root / "clean.py").write_bytes(b"print('fine')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRACE_PLAYBOOK_DIRS", str(tmp_path / "playbooks"))
    monkeypatch.setenv("GRACE_BUNDLED_PLAYBOOKS", "true")
    monkeypatch.setenv("GRACE_DATA_DIR", str(tmp_path / ".grace"))
    monkeypatch.setenv("GRACE_LOG_DIR", str(tmp_path / "logs"))
    return root


def test_mechanical_faults_are_fixed_and_the_rest_ticketed(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(TabError):
        compile(TABS_SRC, "tabs.py", "exec", dont_inherit=True)
    """BOM, mixed endings and tabs are repaired exactly (backups hold the originals); the
    missing colon is untouched, named in a ticket with its line; the final scan counts only it."""
    backups = tmp_path / "backups"
    code = main(
        [
            "execute",
            "syntax_repair",
            "--var",
            f"root={tree}",
            "--var",
            f"backup_dir={backups}",
            "--override-window",  # medium risk: the documented operator path outside a window
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads(out)
    assert run["status"] == "succeeded", run

    for rel, expected in EXPECTED.items():
        path = tree / rel
        assert path.read_bytes() == expected, rel
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        (copy,) = backups.rglob(Path(rel).name)
        assert copy.read_bytes() == ORIGINAL[rel], rel
    assert (tree / "pkg" / "tabs.py").stat().st_mode & 0o777 == 0o640
    assert (tree / "pkg" / "broken.py").read_bytes() == BROKEN_SRC
    assert (tree / "clean.py").read_bytes() == b"print('fine')\n"

    steps = {s["step"]: s for s in run["steps"]}
    verify = steps["verify"]["outputs"]
    assert verify["count"] == verify["other_count"] == 1
    assert verify["mechanical_count"] == 0
    (error,) = verify["errors"]
    assert (error["file"], error["line"], error["kind"]) == (
        str(tree / "pkg" / "broken.py"),
        5,
        "other",
    )

    assert main(["tickets", "--json"]) == 0
    tickets = json.loads(capsys.readouterr().out)
    (ticket,) = [t for t in tickets if "syntax error" in t["title"]]
    assert f"{tree / 'pkg' / 'broken.py'}:5:" in ticket["body"]


def test_a_second_run_changes_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Once fixed, a new run skips the fix step and only re-tickets the human's error."""
    run_it = ["execute", "syntax_repair", "--var", f"root={tree}", "--override-window"]
    assert main(run_it) == 0
    fixed = {rel: (tree / rel).read_bytes() for rel in EXPECTED}
    capsys.readouterr()
    assert main([*run_it, "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    steps = {s["step"]: s for s in run["steps"]}
    assert steps["fix"]["status"] == "skipped"
    assert {rel: (tree / rel).read_bytes() for rel in EXPECTED} == fixed
