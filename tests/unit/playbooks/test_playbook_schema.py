"""The JSON Schema generated from the models, and its committed copy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grace.playbooks import playbook_json_schema
from grace.playbooks.schema import SCHEMA_ID, render_schema

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "schema" / "playbook.schema.json"
REGENERATE = "python -m grace.playbooks.schema > docs/schema/playbook.schema.json"


def test_committed_schema_matches_the_models() -> None:
    """docs/schema/playbook.schema.json is exactly what the models generate (no drift)."""
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == render_schema(), f"the committed schema is stale; run: {REGENERATE}"


def test_schema_names_itself_and_uses_yaml_keys() -> None:
    """The schema has $schema, $id and a title, and uses ``with`` (the YAML key), not ``with_``."""
    schema = playbook_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "Grace playbook"
    step = schema["$defs"]["StepSpec"]["properties"]
    assert "with" in step
    assert "with_" not in step
    assert schema["required"] == ["name", "steps"]
    assert schema["additionalProperties"] is False


def test_schema_module_prints_the_schema() -> None:
    """``python -m grace.playbooks.schema`` prints the same text, without warnings."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "grace.playbooks.schema"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == render_schema()
    assert json.loads(result.stdout)["$id"] == SCHEMA_ID
