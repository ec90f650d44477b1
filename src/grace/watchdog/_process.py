"""``grace watchdog``: the small second process that keeps ``grace serve`` alive.

It imports the store, psutil and this package, nothing of the engine, the API or the runner,
so whatever breaks ``grace serve`` (a bad import, a hung event loop, a crashed runner) is
unlikely to break it too. Its loop, every ``watchdog.peer_check_s``:

- ping its heartbeat row ``grace.watchdog`` (at most every ``heartbeat_s``);
- check ``grace serve`` (:class:`~grace.watchdog.PeerKeeper`): start it when its process is
  gone (tier 2); run the emergency protocol when both its healer components are down and a
  plain restart cannot help: the process is hung, or its restart budget is spent (tier 3).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from grace.logs import get_logger
from grace.watchdog._beats import WATCHDOG_ROW
from grace.watchdog._emergency import run_emergency
from grace.watchdog._identity import RoleLock
from grace.watchdog._peers import PeerKeeper

if TYPE_CHECKING:
    from grace.config import Settings
    from grace.store import Store

__all__ = ("run_watchdog",)

log = get_logger("watchdog")


def run_watchdog(
    settings: Settings,
    *,
    argv: list[str] | None,
    config_file: str | None,
    stop: threading.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); the exit code.

    Raises:
        AlreadyRunning: another ``grace watchdog`` runs for this data dir.
    """
    from grace.store import open_store

    cfg = settings.watchdog
    stop = stop or threading.Event()
    lock = RoleLock(settings.data_dir, "watchdog")
    lock.acquire(argv=argv, config_file=config_file)
    previous = _on_signals(stop)
    store: Store | None = None
    try:
        store = open_store(settings.effective_database_url)
        keeper = PeerKeeper(
            "serve",
            data_dir=settings.data_dir,
            store=store,
            config=cfg,
            database_url=settings.database_url,
            config_file=config_file,
        )
        log.info(
            f"grace watchdog running (pid {os.getpid()}), watching grace serve "
            f"for data dir {settings.data_dir}",
            event_type="watchdog.ready",
        )
        next_beat = 0.0
        cooldown_until = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + cfg.heartbeat_s
                try:
                    store.beat(WATCHDOG_ROW, detail={"pid": os.getpid()})
                except Exception as exc:  # noqa: BLE001 - keep watching without the database
                    log.warning(f"heartbeat failed: {exc!r}", event_type="watchdog.beat_failed")
            verdict, state = keeper.check()
            if verdict in ("hung", "limit") and cfg.emergency.enabled and now >= cooldown_until:
                why = (
                    "grace serve is alive but its runner and API have not pinged for "
                    f"{cfg.peer_timeout_s:g}s (hung)"
                    if verdict == "hung"
                    else "grace serve is down and its restart budget is spent"
                )
                log.error(f"emergency: {why}", event_type="watchdog.emergency")
                outcome = run_emergency(
                    keeper, state, reason=why, sleep=lambda s: _beat_and_wait(store, stop, s)
                )
                if not outcome.recovered:
                    cooldown_until = time.monotonic() + cfg.emergency.cooldown_s
                next_beat = 0.0
            stop.wait(cfg.peer_check_s)
    finally:
        _restore(previous)
        lock.release(requested=stop.is_set())
        if store is not None:
            store.close()
    log.info("grace watchdog stopped", event_type="watchdog.stopped")
    return 0


def _beat_and_wait(store: Store, stop: threading.Event, seconds: float) -> None:
    """Between verification attempts: keep pinging, so nobody takes the watchdog for hung."""
    try:
        store.beat(WATCHDOG_ROW, detail={"pid": os.getpid(), "emergency": True})
    except Exception as exc:  # noqa: BLE001 - keep going without the database
        log.warning(f"heartbeat failed: {exc!r}", event_type="watchdog.beat_failed")
    stop.wait(seconds)


_Handler = signal.Handlers | int | None | object


def _on_signals(stop: threading.Event) -> dict[int, _Handler]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous: dict[int, _Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
