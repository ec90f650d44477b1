"""The client: reports go on a queue; a daemon thread delivers them, spooling what cannot go yet.

Delivery order: a report goes straight to Grace while nothing is spooled; once something is
spooled (Grace unreachable), new reports are appended behind it, and the spool is retried with
exponential backoff until it drains. Every report carries its own ``event_key`` from birth to
delivery, so a resend after a lost answer is recorded once by Grace.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from grace.sdk._report import envelope, exception_event, mark_reported, message_event
from grace.sdk._spool import Spool
from grace.sdk._transport import Outcome, post

__all__ = ("Client", "default_spool_dir", "in_sdk", "quiet")

_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
_COMPACT_EVERY = 100
"""Rewrite the spool after this many deliveries during a long drain (and at its end)."""

_WAKE = "wake"
"""Queued by :meth:`Client.flush`: try the spool now, whatever the backoff says."""
_TICK = "tick"
"""Nothing arrived before the retry time."""

_local = threading.local()


def in_sdk() -> bool:
    """True in code the SDK itself runs (its thread, or while building a report): never report."""
    return bool(getattr(_local, "active", False))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run a block as SDK code: nothing it logs or raises through a hook is reported."""
    before = in_sdk()
    _local.active = True
    try:
        yield
    finally:
        _local.active = before


class Client:
    """Delivers reports for one service to Grace, through a local spool when Grace is away.

    Build it with :func:`grace.sdk.install` (which also installs the hooks), or directly when
    you only want to report by hand.
    """

    _closed: bool
    _adopted: bool
    _dead: bool

    def __init__(
        self,
        service: str,
        *,
        url: str = "http://127.0.0.1:8000",
        spool_dir: str | Path | None = None,
        timeout_s: float = 2.0,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            msg = f"url {url!r} must start with http:// or https:// (Grace's address)"
            raise ValueError(msg)
        self.service = service
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/api/events"
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        token = token if token is not None else os.environ.get("GRACE_TOKEN")
        if token:
            self.headers.setdefault("Authorization", f"Bearer {token}")
        self.spool_dir = Path(spool_dir) if spool_dir is not None else default_spool_dir(service)
        self._cond = threading.Condition(threading.Lock())
        self._reset()
        self._start_thread()  # now: it also picks up earlier processes' leftovers

    # -- reporting (any thread) -------------------------------------------------------------

    def report_exception(
        self,
        exc: BaseException,
        *,
        severity: str = "error",
        attributes: dict[str, Any] | None = None,
        hook: str = "report_exception",
    ) -> str | None:
        """Report an exception; returns the event id (None when called from inside the SDK)."""
        if in_sdk():
            return None
        mark_reported(exc)
        with quiet():
            event = exception_event(
                exc, service=self.service, severity=severity, attributes=attributes, hook=hook
            )
        return self._submit(event)

    def report(
        self,
        message: str,
        *,
        kind: str = "log",
        severity: str = "error",
        attributes: dict[str, Any] | None = None,
    ) -> str | None:
        """Report a message as an event of ``kind`` (``log`` unless told otherwise)."""
        if in_sdk():
            return None
        with quiet():
            event = message_event(
                message, service=self.service, kind=kind, severity=severity, attributes=attributes
            )
        return self._submit(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far, and everything spooled, is delivered.

        Returns True when nothing is left undelivered. Returns False at ``timeout``, or as soon
        as Grace proves unreachable (what is left stays in the spool and is retried later).
        """
        self._check_fork()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return not self._pending
            self._flush_gen += 1
            gen = self._flush_gen
            target = self._submitted
            self._queue.put(_WAKE)
            while not self._dead:
                handled = self._handled >= target and self._adopted
                if handled and not self._pending:
                    return True
                if handled and self._failed_gen >= gen:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return False

    def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` (default ``timeout_s``), then spool whatever is left.

        Never loses a report and never blocks longer than the timeout. Returns True when
        everything was delivered.
        """
        delivered = self.flush(self.timeout_s if timeout is None else timeout)
        with self._cond:
            if self._closed:
                return delivered
            self._closed = True
            leftovers: list[dict[str, Any] | str | None] = [*self._inflight_direct]
            while True:
                try:
                    leftovers.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [i for i in leftovers if isinstance(i, dict)]
            if items:
                # Nowhere left to keep them: the process is going down with them.
                with contextlib.suppress(OSError):
                    self._spool.append(items)
            self._inflight_direct.clear()
            self._queue.put(None)
        return delivered and not items

    def stats(self) -> dict[str, int]:
        """Counters: ``delivered``, ``spooled``, ``rejected``, ``retries``, ``pending`` (spooled, not
        yet delivered)."""
        self._check_fork()
        with self._cond:
            return {**self._stats, "pending": len(self._pending)}

    # -- internals ----------------------------------------------------------------------------

    def _reset(self) -> None:
        """State for this process, without a delivery thread yet."""
        self._pid = os.getpid()
        self._spool = Spool(self.spool_dir, self._pid)
        self._queue: queue.SimpleQueue[dict[str, Any] | str | None] = queue.SimpleQueue()
        self._pending: deque[dict[str, Any]] = deque()
        self._inflight_direct: list[dict[str, Any]] = []
        self._submitted = 0
        self._handled = 0
        self._adopted = True  # nothing to adopt until a thread starts
        self._closed = False
        self._flush_gen = 0
        self._failed_gen = -1
        self._dead = False
        self._stats = {"delivered": 0, "spooled": 0, "rejected": 0, "retries": 0}
        self._thread: threading.Thread | None = None

    def _start_thread(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._adopted = False
            self._thread = threading.Thread(
                target=self._run, name="grace-sdk-delivery", daemon=True
            )
            self._thread.start()

    def _check_fork(self) -> None:
        """In a forked child: fresh state and lock (the parent's thread did not survive the
        fork, and its lock may have been copied while held). The thread starts on the first
        report, so a child that reports nothing exits at once."""
        if self._pid != os.getpid():
            self._cond = threading.Condition(threading.Lock())
            self._reset()

    def _submit(self, event: dict[str, Any]) -> str:
        item = envelope(event)
        self._check_fork()
        self._start_thread()
        with self._cond:
            if self._closed:
                # Late reports (during interpreter shutdown): keep them for the next process.
                try:
                    self._spool.append([item])
                    self._stats["spooled"] += 1
                except OSError:
                    pass
                return str(event["id"])
            self._submitted += 1
            self._queue.put(item)
        return str(event["id"])

    def _run(self) -> None:
        _local.active = True
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - a broken SDK must not take the app down
            with self._cond:
                self._dead = True
                self._cond.notify_all()

    def _loop(self) -> None:
        with self._cond:
            with contextlib.suppress(OSError):
                self._pending.extend(self._spool.adopt())
            self._adopted = True
            self._cond.notify_all()
        backoff = 0.0
        retry_at = time.monotonic()
        while True:
            timeout = max(0.0, retry_at - time.monotonic()) if self._pending else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _TICK
            if item is None:
                return  # closed
            if item == _WAKE:
                retry_at = time.monotonic()  # a flush wants an attempt now
            elif isinstance(item, dict):
                backoff, retry_at = self._handle_new(item, backoff, retry_at)
            if self._closed:
                return
            if self._pending and time.monotonic() >= retry_at:
                backoff = self._drain(backoff)
                retry_at = time.monotonic() + backoff

    def _handle_new(
        self, item: dict[str, Any], backoff: float, retry_at: float
    ) -> tuple[float, float]:
        """A fresh report: send it, unless older ones are spooled (then queue behind them)."""
        if self._pending:
            self._keep(item)
            return backoff, retry_at
        with self._cond:
            if self._closed:
                self._keep_locked(item)  # close() did not see it: it was in our hands
                return backoff, retry_at
            self._inflight_direct.append(item)
            gen = self._flush_gen
        outcome = post(self.endpoint, item, timeout_s=self.timeout_s, headers=self.headers)
        with self._cond:
            if self._closed:
                return backoff, retry_at  # close() has spooled it already
            self._inflight_direct.remove(item)
        if outcome.kind == "retry":
            self._keep(item)
            self._failed(gen)
            backoff = _next_backoff(backoff)
            return backoff, time.monotonic() + backoff
        self._settle(item, outcome)
        return 0.0, retry_at

    def _keep(self, item: dict[str, Any]) -> None:
        """Spool a report (durably) and count it handled."""
        with self._cond:
            self._keep_locked(item)

    def _keep_locked(self, item: dict[str, Any]) -> None:
        # The spool is unwritable: it stays in memory, delivered if Grace returns.
        with contextlib.suppress(OSError):
            self._spool.append([item])
        self._pending.append(item)
        self._stats["spooled"] += 1
        self._handled += 1
        self._cond.notify_all()

    def _settle(self, item: dict[str, Any], outcome: Outcome) -> None:
        with self._cond:
            if outcome.kind == "reject":
                self._reject(item, outcome)
            else:
                self._stats["delivered"] += 1
            self._handled += 1
            self._cond.notify_all()

    def _reject(self, item: dict[str, Any], outcome: Outcome) -> None:
        with contextlib.suppress(OSError):
            self._spool.reject(item, outcome.detail)
        self._stats["rejected"] += 1

    def _failed(self, gen: int) -> None:
        with self._cond:
            self._failed_gen = max(self._failed_gen, gen)
            self._cond.notify_all()

    def _drain(self, backoff: float) -> float:
        """Send spooled reports oldest first until one fails; return the next backoff."""
        done = 0
        while True:
            with self._cond:
                if self._closed or not self._pending:
                    break
                item = self._pending[0]
                gen = self._flush_gen
            outcome = post(self.endpoint, item, timeout_s=self.timeout_s, headers=self.headers)
            with self._cond:
                if self._closed:
                    return backoff
                if outcome.kind == "retry":
                    self._stats["retries"] += 1
                else:
                    self._pending.popleft()
                    if outcome.kind == "reject":
                        self._reject(item, outcome)
                    else:
                        self._stats["delivered"] += 1
                    done += 1
                    if done % _COMPACT_EVERY == 0:
                        self._compact()
            if outcome.kind == "retry":
                self._failed(gen)
                if done:
                    self._compact_locked()
                return _next_backoff(backoff)
        self._compact_locked()
        with self._cond:
            self._cond.notify_all()
        return 0.0

    def _compact_locked(self) -> None:
        with self._cond:
            if not self._closed:
                self._compact()

    def _compact(self) -> None:
        # The old file still holds them all: at worst some are resent (same keys).
        with contextlib.suppress(OSError):
            self._spool.rewrite(list(self._pending))


def _next_backoff(previous: float) -> float:
    base = _FIRST_BACKOFF_S if previous <= 0 else min(_MAX_BACKOFF_S, previous * 2)
    return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography


def default_spool_dir(service: str) -> Path:
    """``$XDG_CACHE_HOME/grace-sdk/<service>``, else ``~/.cache/grace-sdk/<service>``."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in service) or "default"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grace-sdk" / safe
