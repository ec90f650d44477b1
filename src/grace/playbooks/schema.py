"""The playbook format as JSON Schema, generated from the pydantic models.

Editors use it for completion and inline errors (``# yaml-language-server: $schema=…``).
The committed copy lives in ``docs/schema/playbook.schema.json``; regenerate it with::

    python -m grace.playbooks.schema > docs/schema/playbook.schema.json
"""

from __future__ import annotations

import sys

from grace.playbooks._schema import SCHEMA_ID as SCHEMA_ID
from grace.playbooks._schema import playbook_json_schema as playbook_json_schema
from grace.playbooks._schema import render_schema as render_schema

__all__ = ("SCHEMA_ID", "playbook_json_schema", "render_schema")

if __name__ == "__main__":
    sys.stdout.write(render_schema())
