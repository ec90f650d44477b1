"""The status report: is Grace OPERATIONAL, DEGRADED or CRITICAL, and what should a person do.

``_report`` builds it from the store (the rules are in its docstring and ``docs/status.md``);
``_render`` turns it into JSON, markdown, or the tables ``grace status`` prints with rich.
"""

from __future__ import annotations

from grace.status._render import Section as Section
from grace.status._render import audit_line as audit_line
from grace.status._render import format_duration as format_duration
from grace.status._render import sections as sections
from grace.status._render import to_json as to_json
from grace.status._render import to_markdown as to_markdown
from grace.status._report import AuditStatus as AuditStatus
from grace.status._report import Reason as Reason
from grace.status._report import State as State
from grace.status._report import StatusReport as StatusReport
from grace.status._report import build_status as build_status

__all__ = (
    "AuditStatus",
    "Reason",
    "Section",
    "State",
    "StatusReport",
    "audit_line",
    "build_status",
    "format_duration",
    "sections",
    "to_json",
    "to_markdown",
)
