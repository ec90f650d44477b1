"""Process-wide logging setup: structlog in front, stdlib ``logging`` handlers behind.

Records from :func:`get_logger` loggers and from third-party libraries (stdlib ``logging``,
WARNING and above) run through the same processors and land in the same places:

* ``log_dir/grace.jsonl``: one JSON object per line, flushed per record (so ``grace logs
  --follow`` in another process sees it at once), reopened if logrotate moves it away;
* stderr, pretty (or JSON with ``json_console``), only when asked or when stderr is a TTY,
  so commands that print JSON to stdout stay clean.

The only process state is what :func:`configure_logging` installed (its handlers and the
levels it replaced), kept in one holder that :func:`reset_logging` empties.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Final

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from grace.errors import ConfigError
from grace.logs._context import CORRELATION_IDS
from grace.logs._redact import redact_secrets, redact_text

__all__ = ("LOG_FILENAME", "configure_logging", "get_logger", "reset_logging")

LOG_FILENAME: Final = "grace.jsonl"
"""The log file's name inside ``log_dir``."""

_GRACE_LOGGER: Final = "grace"
_HEAD_KEYS: Final = ("timestamp", "level", "subsystem", "event_type", "message", *CORRELATION_IDS)


@dataclass(frozen=True, slots=True)
class _Installation:
    handlers: tuple[logging.Handler, ...]
    root_level: int
    grace_level: int


class _Holder:
    """What :func:`configure_logging` installed, so it can be undone exactly."""

    __slots__ = ("installation", "lock")

    def __init__(self) -> None:
        self.installation: _Installation | None = None
        self.lock = threading.Lock()


_HOLDER: Final = _Holder()


def configure_logging(
    *,
    log_dir: Path,
    level: str = "INFO",
    console: bool | None = None,
    json_console: bool = False,
) -> None:
    """Send every record to ``log_dir/grace.jsonl`` and, optionally, to stderr.

    Safe to call again: the previous handlers are closed and replaced, so a second call
    reconfigures cleanly (tests, ``grace`` subcommands changing the level).

    Args:
        log_dir: Directory of the log file; created with its parents.
        level: Lowest level written for Grace's own loggers (``DEBUG`` … ``CRITICAL``, any
            case). Other libraries are written from ``WARNING`` up.
        console: ``True``: also write to stderr; ``False``: never; ``None``: only when stderr
            is a TTY.
        json_console: Write JSON lines to stderr instead of the pretty rendering (for
            containers and journald). Only matters when the console is on.

    Raises:
        ConfigError: *level* is not a level name, or *log_dir* cannot be written.
    """
    numeric = _parse_level(level)
    path = log_dir / LOG_FILENAME
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = WatchedFileHandler(path, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        msg = f"cannot write logs to {path}: {exc.strerror or exc}"
        raise ConfigError(
            msg,
            hint="set log_dir (GRACE_LOG_DIR) to a directory Grace may write to",
        ) from exc
    file_handler.setFormatter(_json_formatter())
    handlers: list[logging.Handler] = [file_handler]
    if console or (console is None and _stderr_is_tty()):
        console_handler = _StderrHandler()
        console_handler.setFormatter(
            _json_formatter() if json_console else _console_formatter(colors=_stderr_is_tty())
        )
        handlers.append(console_handler)

    with _HOLDER.lock:
        _uninstall()
        root, grace = logging.getLogger(), logging.getLogger(_GRACE_LOGGER)
        _HOLDER.installation = _Installation(tuple(handlers), root.level, grace.level)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(max(logging.WARNING, numeric))
        grace.setLevel(numeric)
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                *_shared_processors(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            # Loggers made before configure_logging (module level) must see the new setup.
            cache_logger_on_first_use=False,
        )


def reset_logging() -> None:
    """Undo :func:`configure_logging`: close the log file, restore structlog's defaults.

    Removes only the handlers Grace installed and puts back the levels it changed. Meant
    for tests and for embedding applications; calling it when nothing is configured is fine.
    """
    with _HOLDER.lock:
        _uninstall()
        structlog.reset_defaults()


def get_logger(subsystem: str) -> structlog.stdlib.BoundLogger:
    """Return a logger whose records carry ``subsystem``.

    The positional argument of a log call becomes the record's ``message``; pass
    ``event_type`` (dotted, e.g. ``"step.started"``) and any other fields as keywords::

        log = get_logger("runner")
        log.info("step started", event_type="step.started", step="restart")

    A record without ``event_type`` gets ``"<subsystem>.log"``. Safe to call at import time:
    the logger looks up the configuration on every call.

    Args:
        subsystem: The part of Grace that logs (``"runner"``, ``"sources.logtail"``).

    Returns:
        A structlog stdlib ``BoundLogger`` (lazily bound).

    Raises:
        ValueError: *subsystem* is empty.
    """
    if not subsystem:
        msg = "get_logger() needs a subsystem name, e.g. get_logger('runner')"
        raise ValueError(msg)
    return structlog.stdlib.get_logger(f"{_GRACE_LOGGER}.{subsystem}", subsystem=subsystem)


def _uninstall() -> None:
    installation, _HOLDER.installation = _HOLDER.installation, None
    if installation is None:
        return
    root = logging.getLogger()
    for handler in installation.handlers:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(installation.root_level)
    logging.getLogger(_GRACE_LOGGER).setLevel(installation.grace_level)


def _parse_level(level: str) -> int:
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None or level.upper() in {"NOTSET", "WARN", "FATAL"}:
        msg = f"unknown log level {level!r}"
        raise ConfigError(
            msg,
            hint="use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        )
    return numeric


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test capture swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


# --- processors -----------------------------------------------------------------------------


def _add_subsystem_and_type(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Make ``subsystem`` and ``event_type`` present in every record."""
    if not event_dict.get("subsystem"):
        record = event_dict.get("_record")
        name = record.name if record is not None else getattr(logger, "name", None)
        name = name or _GRACE_LOGGER
        event_dict["subsystem"] = name.removeprefix(f"{_GRACE_LOGGER}.")
    if not event_dict.get("event_type"):
        event_dict["event_type"] = f"{event_dict['subsystem']}.log"
    return event_dict


def _rename_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog's ``event`` is our ``message`` (always present, always a string)."""
    message = event_dict.pop("event", None)
    event_dict["message"] = "" if message is None else str(message)
    return event_dict


def _redact_exception(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Exception messages are only text once rendered: scrub them then."""
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact_text(event_dict["exception"])
    return event_dict


def _order_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Fixed fields first, then the correlation ids, extra fields, and the traceback last."""
    ordered = {key: event_dict[key] for key in _HEAD_KEYS if key in event_dict}
    ordered.update(
        (key, value)
        for key, value in event_dict.items()
        if key not in ordered and key != "exception"
    )
    if "exception" in event_dict:
        ordered["exception"] = event_dict["exception"]
    return ordered


def _subsystem_as_logger_name(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """The console shows ``[subsystem]`` in the logger-name column."""
    event_dict["logger_name"] = event_dict.pop("subsystem")
    return event_dict


def _shared_processors() -> list[Processor]:
    """Run on every record: structlog's at the call, foreign ones in the formatter."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_subsystem_and_type,
        structlog.processors.StackInfoRenderer(),
        # Before any handler sees the record, so no handler (ours or not) gets a secret.
        redact_secrets,
    ]


def _json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_exception,
            _rename_event,
            _order_keys,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def _console_formatter(*, colors: bool) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _subsystem_as_logger_name,
            structlog.dev.ConsoleRenderer(
                colors=colors,
                # Locals in a traceback would bypass redaction: never show them.
                exception_formatter=(
                    structlog.dev.RichTracebackFormatter(show_locals=False)
                    if colors
                    else structlog.dev.plain_traceback
                ),
            ),
        ],
    )
