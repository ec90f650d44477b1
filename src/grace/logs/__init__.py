"""Structured logs: JSON lines with correlation ids, and the reader behind ``grace logs``.

Write::

    configure_logging(log_dir=settings.log_dir, level=settings.log_level)  # once, at entry
    log = get_logger("runner")
    with bind_context(run_id=run.id, playbook_id=run.playbook):
        log.info("step started", event_type="step.started", step="restart")

Read::

    for record in iter_log_records(log_dir / LOG_FILENAME, run_id=run.id, follow=True):
        print(format_record(record, color=True))

See ``docs/logging.md`` for the fields and for filtering with ``jq``.
"""

from __future__ import annotations

from grace.logs._context import CORRELATION_IDS as CORRELATION_IDS
from grace.logs._context import bind_context as bind_context
from grace.logs._context import current_context as current_context
from grace.logs._format import format_record as format_record
from grace.logs._reader import LogStats as LogStats
from grace.logs._reader import correlate as correlate
from grace.logs._reader import is_error_record as is_error_record
from grace.logs._reader import iter_log_records as iter_log_records
from grace.logs._redact import REDACTED as REDACTED
from grace.logs._redact import is_secret_key as is_secret_key
from grace.logs._redact import redact_secrets as redact_secrets
from grace.logs._redact import redact_text as redact_text
from grace.logs._redact import redact_value as redact_value
from grace.logs._setup import LOG_FILENAME as LOG_FILENAME
from grace.logs._setup import configure_logging as configure_logging
from grace.logs._setup import get_logger as get_logger
from grace.logs._setup import reset_logging as reset_logging

__all__ = (
    "CORRELATION_IDS",
    "LOG_FILENAME",
    "REDACTED",
    "LogStats",
    "bind_context",
    "configure_logging",
    "correlate",
    "current_context",
    "format_record",
    "get_logger",
    "is_error_record",
    "is_secret_key",
    "iter_log_records",
    "redact_secrets",
    "redact_text",
    "redact_value",
    "reset_logging",
)
