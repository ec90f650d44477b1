"""The playbook format as JSON Schema, generated from the pydantic models (see ``schema.py``)."""

from __future__ import annotations

import json
from typing import Any

from grace.playbooks._model import PlaybookSpec

__all__ = ("SCHEMA_ID", "playbook_json_schema", "render_schema")

SCHEMA_ID = "urn:grace:schema:playbook:1"
"""The schema's ``$id``; bump the last part when the format changes incompatibly."""


def playbook_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a playbook file.

    It checks the shape only; ``grace validate`` also checks actions, parameters, regexes,
    cron expressions and templates.
    """
    generated = PlaybookSpec.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
        "title": "Grace playbook",
    }


def render_schema() -> str:
    """The schema as the committed file holds it (two-space indent, trailing newline)."""
    return json.dumps(playbook_json_schema(), indent=2, ensure_ascii=False) + "\n"
