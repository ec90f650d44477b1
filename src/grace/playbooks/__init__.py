"""Playbooks: YAML files → checked, typed :class:`Playbook` objects.

Loading reports every fault of a file at once (file:line:column, the field, a hint), so a
broken playbook is found by ``grace validate``, never at 3 a.m.
"""

from __future__ import annotations

from grace.playbooks._library import PLAYBOOK_SUFFIXES as PLAYBOOK_SUFFIXES
from grace.playbooks._library import bundled_dir as bundled_dir
from grace.playbooks._library import load_library as load_library
from grace.playbooks._library import load_paths as load_paths
from grace.playbooks._library import validate_paths as validate_paths
from grace.playbooks._loader import load_file as load_file
from grace.playbooks._loader import load_text as load_text
from grace.playbooks._model import Condition as Condition
from grace.playbooks._model import Metadata as Metadata
from grace.playbooks._model import Metrics as Metrics
from grace.playbooks._model import PlaybookSpec as PlaybookSpec
from grace.playbooks._model import Recovery as Recovery
from grace.playbooks._model import RecoveryStep as RecoveryStep
from grace.playbooks._model import StepSpec as StepSpec
from grace.playbooks._model import Threshold as Threshold
from grace.playbooks._model import TriggerSpec as TriggerSpec
from grace.playbooks._playbook import Playbook as Playbook
from grace.playbooks._references import EVENT_FIELDS as EVENT_FIELDS
from grace.playbooks._schema import playbook_json_schema as playbook_json_schema
from grace.playbooks._templating import CONTEXT_FLAGS as CONTEXT_FLAGS
from grace.playbooks._templating import TEMPLATE_ROOTS as TEMPLATE_ROOTS
from grace.playbooks._templating import Templates as Templates
from grace.playbooks._templating import is_template as is_template

__all__ = (
    "CONTEXT_FLAGS",
    "EVENT_FIELDS",
    "PLAYBOOK_SUFFIXES",
    "TEMPLATE_ROOTS",
    "Condition",
    "Metadata",
    "Metrics",
    "Playbook",
    "PlaybookSpec",
    "Recovery",
    "RecoveryStep",
    "StepSpec",
    "Templates",
    "Threshold",
    "TriggerSpec",
    "bundled_dir",
    "is_template",
    "load_file",
    "load_library",
    "load_paths",
    "load_text",
    "playbook_json_schema",
    "validate_paths",
)
