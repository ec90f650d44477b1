"""Commands that need neither the database nor the API must not import them (issue 3: FastAPI
and SQLAlchemy cost about a second of start-up here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[3] / "src" / "grace" / "library"
HEAVY = ("sqlalchemy", "fastapi", "alembic", "starlette", "uvicorn")

PROBE = """
import json, sys
from grace.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


@pytest.mark.parametrize(
    "argv",
    [["validate", str(LIBRARY)], ["--help"], ["config", "show", "--json"]],
    ids=["validate", "help", "config-show"],
)
def test_light_commands_stay_light(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"grace {' '.join(argv)} imported {loaded}"
