"""Where the SDK listens: ``sys.excepthook``, ``threading.excepthook``, asyncio loops, logging.

Each hook reports, then hands over to what was there before (the traceback still prints). An
exception reported once (say logged, then re-raised) is not reported again by another hook.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from grace.sdk._client import Client, in_sdk, quiet
from grace.sdk._report import already_reported

__all__ = ("GraceLogHandler", "get_client", "install", "install_asyncio_handler", "uninstall")

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
ThreadHook = Callable[[threading.ExceptHookArgs], Any]


class _Installed:
    """What :func:`install` changed, so :func:`uninstall` can put it back."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.excepthook: ExceptHook | None = None
        self.threading_hook: ThreadHook | None = None
        self.log_handler: GraceLogHandler | None = None
        self.loops: list[tuple[weakref.ref[Any], Any]] = []
        self.atexit_registered = False


_state = _Installed()
_lock = threading.RLock()

_SEVERITY_BY_LEVEL = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
)


def get_client() -> Client | None:
    """The client :func:`install` made, or None."""
    return _state.client


def install(
    service: str,
    *,
    url: str = "http://127.0.0.1:8000",
    spool_dir: str | Path | None = None,
    timeout_s: float = 2.0,
    capture_logging: bool = True,
    log_level: int = logging.ERROR,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
) -> Client:
    """Report this process's unhandled exceptions (and error logs) to Grace.

    Hooks ``sys.excepthook``, ``threading.excepthook``, the running asyncio loop (when called
    inside one; see :func:`install_asyncio_handler` otherwise) and, with ``capture_logging``, a
    handler on the root logger for records at ``log_level`` or above. Reports go to
    ``POST {url}/api/events``; while Grace is unreachable they wait in ``spool_dir`` (default
    ``~/.cache/grace-sdk/<service>``) and are delivered later. Leftovers of earlier processes
    of the service are picked up and delivered. At exit the SDK waits at most ``timeout_s`` and
    leaves the rest in the spool. Calling it again replaces the previous installation.

    Args:
        service: the service name Grace's triggers filter on.
        url: Grace's base URL.
        spool_dir: where undelivered reports wait.
        timeout_s: per-request timeout, and the most the SDK delays interpreter exit.
        capture_logging: also report log records at ``log_level`` and above.
        log_level: the lowest level reported from logging.
        headers: extra HTTP headers (an auth proxy's, say).
        token: a Grace API token with the operator role (``grace token create --role operator
            --name my-service``); default ``$GRACE_TOKEN``. Reports refused with 401/403 wait
            in the spool until the token is fixed.

    Returns:
        The client, for reporting by hand (``client.report_exception(exc)``).
    """
    if not service:
        msg = "install() needs service= (the name Grace's playbooks know this app by)"
        raise ValueError(msg)
    with _lock:
        if _state.client is not None:
            uninstall()
        client = Client(
            service,
            url=url,
            spool_dir=spool_dir,
            timeout_s=timeout_s,
            headers=headers,
            token=token,
        )
        _state.client = client
        _state.excepthook = sys.excepthook
        sys.excepthook = _excepthook
        _state.threading_hook = threading.excepthook
        threading.excepthook = _threading_excepthook
        if capture_logging:
            _state.log_handler = GraceLogHandler(client, level=log_level)
            logging.getLogger().addHandler(_state.log_handler)
        asyncio = sys.modules.get("asyncio")  # not imported: no loop can be running
        if asyncio is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None  # not called from inside a loop
            if loop is not None:
                install_asyncio_handler(loop)
        if not _state.atexit_registered:
            atexit.register(_at_exit)
            _state.atexit_registered = True
    return client


def uninstall(timeout: float | None = None) -> bool:
    """Put the hooks back and close the client (flush for up to ``timeout``, default its
    ``timeout_s``; the rest stays spooled). Returns True when everything was delivered."""
    with _lock:
        client = _state.client
        if client is None:
            return True
        if sys.excepthook is _excepthook and _state.excepthook is not None:
            sys.excepthook = _state.excepthook
        if threading.excepthook is _threading_excepthook and _state.threading_hook is not None:
            threading.excepthook = _state.threading_hook
        if _state.log_handler is not None:
            logging.getLogger().removeHandler(_state.log_handler)
        for ref, previous in _state.loops:
            loop = ref()
            if loop is not None and getattr(loop.get_exception_handler(), "_grace_sdk", False):
                loop.set_exception_handler(previous)
        _state.client, _state.log_handler, _state.loops = None, None, []
    return client.close(timeout)


def install_asyncio_handler(loop: Any = None) -> None:
    """Report exceptions an asyncio loop would only log ("Task exception was never retrieved").

    ``install()`` does this for the loop it is called in; call it for loops created later.
    """
    if loop is None:
        import asyncio

        loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, "_grace_sdk", False):
        return

    def handler(loop: Any, context: dict[str, Any]) -> None:
        client = _state.client
        if client is not None:
            _report_asyncio(client, context)
        if previous is not None:
            previous(loop, context)
        else:
            with quiet():  # it only logs what was just reported: don't report it twice
                loop.default_exception_handler(context)

    handler._grace_sdk = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
    with _lock:
        _state.loops.append((weakref.ref(loop), previous))


class GraceLogHandler(logging.Handler):
    """Reports log records: with ``exc_info`` as ``exception`` events, else as ``log`` events."""

    def __init__(self, client: Client, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        """Report the record (never the SDK's own records)."""
        if in_sdk() or record.name == "grace.sdk" or record.name.startswith("grace.sdk."):
            return
        try:
            severity = _severity(record.levelno)
            attributes: dict[str, Any] = {
                "logger": record.name,
                "log_level": record.levelname,
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            }
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                if already_reported(exc):
                    return
                attributes["log_message"] = record.getMessage()
                self.client.report_exception(
                    exc, severity=severity, attributes=attributes, hook="logging"
                )
            else:
                self.client.report(
                    record.getMessage(), kind="log", severity=severity, attributes=attributes
                )
        except Exception:  # noqa: BLE001 - logging's own policy decides what a failure prints
            self.handleError(record)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    client = _state.client
    if client is not None and not issubclass(exc_type, KeyboardInterrupt):
        _safely(client, exc, "sys.excepthook", {})
    previous = _state.excepthook or sys.__excepthook__
    previous(exc_type, exc, tb)


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    client = _state.client
    if client is not None and args.exc_value is not None and args.exc_type is not SystemExit:
        thread = args.thread.name if args.thread is not None else ""
        _safely(client, args.exc_value, "threading.excepthook", {"thread": thread})
    previous = _state.threading_hook or threading.__excepthook__
    previous(args)


def _report_asyncio(client: Client, context: dict[str, Any]) -> None:
    attributes = {"asyncio_message": str(context.get("message", ""))}
    exc = context.get("exception")
    if isinstance(exc, BaseException):
        _safely(client, exc, "asyncio", attributes)
        return
    with contextlib.suppress(Exception):  # reporting must never break the app's error path
        client.report(attributes["asyncio_message"], kind="log", attributes=attributes)


def _safely(client: Client, exc: BaseException, hook: str, attributes: dict[str, Any]) -> None:
    if already_reported(exc):
        return
    with contextlib.suppress(Exception):  # reporting must never break the app's error path
        client.report_exception(exc, attributes=attributes or None, hook=hook)


def _severity(levelno: int) -> str:
    for level, name in _SEVERITY_BY_LEVEL:
        if levelno >= level:
            return name
    return "debug"


def _at_exit() -> None:
    client = _state.client
    if client is not None:
        client.close()
