"""The package's contract: its exports, and that loading stays light."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grace.playbooks
import grace.playbooks.schema

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "playbooks" / "valid" / "seed.yaml"


def isort_key(name: str) -> tuple[int, str]:
    """ruff's ``__all__`` order: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def test_public_modules_declare_a_sorted_tuple_all() -> None:
    """``__all__`` is a sorted tuple and every name in it exists."""
    for module in (grace.playbooks, grace.playbooks.schema):
        assert isinstance(module.__all__, tuple), module.__name__
        assert list(module.__all__) == sorted(module.__all__, key=isort_key), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_loading_does_not_import_the_store_or_the_api() -> None:
    """Importing grace.playbooks and loading a file never pulls in sqlalchemy, fastapi, alembic."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import make_registry
        from grace.playbooks import load_file
        load_file({str(VALID)!r}, registry=make_registry())
        heavy = sorted(
            m for m in sys.modules if m.split(".")[0] in {{"sqlalchemy", "fastapi", "alembic"}}
        )
        print(",".join(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_a_cache_hit_imports_neither_ruamel_nor_croniter(tmp_path: Path) -> None:
    """A start whose playbooks all come from the cache never loads the YAML parser or croniter
    (an idle daemon's memory); the first start, which parses, does."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    folder.joinpath("seed.yaml").write_bytes(VALID.read_bytes())
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import make_registry
        from grace.playbooks import load_library
        from pathlib import Path
        loaded, errors = load_library(
            [Path({str(folder)!r})], registry=make_registry(), include_bundled=False, cache_dir=Path({str(tmp_path / "cache")!r})
        )
        assert loaded and not errors, errors
        heavy = {{m.split(".")[0] for m in sys.modules}} & {{"ruamel", "croniter"}}
        print(",".join(sorted(heavy)))
        """
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert "ruamel" in run()  # the first load parses (and fills the cache)
    assert run() == ""
