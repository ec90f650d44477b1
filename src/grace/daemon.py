"""``grace serve``: sources, pipeline, runner workers and the HTTP intake in one event loop.

SIGTERM (or Ctrl-C) stops intake first, lets in-flight runs finish for ``drain_s``, then
cancels what is left; cancelled runs are recorded ``interrupted``. Playbooks hot-reload: an
invalid edit is rejected with its error and the previous version keeps running.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from grace import sdnotify
from grace.config import Settings
from grace.engine import Engine
from grace.governance import Guard, build_guards, context_flags
from grace.logs import get_logger
from grace.matching import Matcher, Trigger, triggers_of
from grace.pipeline import Decider, Pipeline
from grace.playbooks import Playbook
from grace.sources import EventSource, SourceContext, default_source_registry
from grace.watchdog import Component, ComponentWatchdog, Heartbeats, RoleLock

__all__ = ("TRACEBACK_PATTERN", "Daemon", "build_matcher", "serve")

log = get_logger("daemon")

TRACEBACK_PATTERN = r"^Traceback \(most recent call last\):"
"""Always in the log sources' filter, so a traceback becomes one exception event."""


def build_matcher(playbooks: dict[str, Playbook], cache_dir: Path | None) -> Matcher:
    """One matcher over every trigger of every loaded playbook."""
    triggers: list[Trigger] = []
    for name in sorted(playbooks):
        triggers.extend(triggers_of(playbooks[name]))
    return Matcher(triggers, cache_dir=cache_dir)


@dataclass
class Daemon:
    """Everything one ``grace serve`` runs; built by :meth:`create`, run by :meth:`run`."""

    settings: Settings
    engine: Engine
    pipeline: Pipeline
    matcher: Matcher
    line_filter_matcher: Matcher | None
    """Triggers plus the traceback start, for log sources; built when a log source first asks
    (a daemon without log sources never loads that database)."""
    matcher_slot: list[Matcher] = field(default_factory=list)
    """The decider reads ``matcher_slot[0]``; a reload swaps it in place."""
    sources: list[EventSource] = field(default_factory=list)
    drain_s: float = 30.0
    reload_interval_s: float = 1.0
    beats: Heartbeats = field(default_factory=Heartbeats)
    """The components' heartbeats (docs/watchdog.md)."""
    watchdog: ComponentWatchdog | None = None
    """The in-process watchdog, built by :meth:`run`; tests reach the component tasks here."""
    launch_argv: list[str] | None = None
    """How this ``grace serve`` was started (set by the CLI): recorded so that ``grace
    watchdog`` restarts it the same way."""
    config_file: str | None = None
    """The grace.yaml it was started with (set by the CLI), for the peer's default command."""
    _mtimes: dict[str, float] = field(default_factory=dict)
    _lock: RoleLock | None = None
    _stop_requested: bool = False

    @classmethod
    def create(cls, settings: Settings, *, engine: Engine | None = None) -> Daemon:
        engine = engine or Engine(settings)
        cache = settings.data_dir / "cache"
        matcher = build_matcher(engine.playbooks, cache)
        slot = [matcher]
        decider = Decider(
            store=engine.store,
            governor=engine.governor,
            playbooks=lambda: engine.playbooks,
            matcher=lambda: slot[0],
            mode=lambda: settings.mode,
            clock=engine.clock,
            ids=engine.ids,
            config=settings.config,
            governance=settings.governance,
            flags=lambda now: context_flags(engine.calendar, now),
            notifier=_webhook_notifier(settings),
        )
        pipeline = Pipeline(
            store=engine.store,
            decider=decider,
            runner=engine.runner,
            queue_size=settings.queue_size,
            workers=settings.workers,
        )
        daemon = cls(settings, engine, pipeline, matcher, None, slot)
        daemon.drain_s = settings.drain_s
        daemon.sources = daemon._build_sources()
        daemon._mtimes = _playbook_mtimes(settings)
        return daemon

    def _line_filter(self) -> Matcher:
        if self.line_filter_matcher is None:
            cache = self.settings.data_dir / "cache"
            self.line_filter_matcher = _line_matcher(self.matcher, cache)
        return self.line_filter_matcher

    def _build_sources(self) -> list[EventSource]:
        registry = default_source_registry()
        ctx = SourceContext(
            clock=self.engine.clock,
            ids=self.engine.ids,
            state=self.engine.store,
            data_dir=self.settings.data_dir,
            line_filter=lambda buffer: self._line_filter().scan(buffer),
            logger=get_logger("sources"),
            extra={"scheduled_jobs": _scheduled_jobs(self.engine.playbooks)},
        )
        built: list[EventSource] = []
        for i, raw in enumerate(self.settings.sources):
            config = registry.parse(raw, where=f"grace.yaml: sources[{i}]")
            built.append(registry.get(config.type).factory(config, ctx))
        has_schedule = any(
            getattr(getattr(s, "config", None), "type", "") == "schedule" for s in built
        )
        if ctx.extra["scheduled_jobs"] and "schedule" in registry.names() and not has_schedule:
            schedule = registry.get("schedule")
            built.append(
                schedule.factory(schedule.config.model_validate({"type": "schedule"}), ctx)
            )
        return built

    async def run(
        self,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
        install_signals: bool = True,
    ) -> None:
        """Run until SIGTERM/SIGINT (or cancellation), then drain and stop."""
        claimed = self.claim()
        try:
            await self._run(task_status=task_status, install_signals=install_signals)
        finally:
            if claimed:
                self.release()

    def claim(self) -> bool:
        """With ``watchdog.enabled``: take the ``serve`` role of the data dir, before anything
        starts, so that a second ``grace serve`` refuses to run (:class:`AlreadyRunning`).
        True when this call took it."""
        if not self.settings.watchdog.enabled or self._lock is not None:
            return False
        lock = RoleLock(self.settings.data_dir, "serve")
        lock.acquire(argv=self.launch_argv, config_file=self.config_file)
        self._lock = lock
        return True

    def release(self) -> None:
        """Give the ``serve`` role up (see :meth:`claim`)."""
        if self._lock is not None:
            # Stopped on request (SIGTERM, Ctrl-C): grace watchdog must not start it again.
            self._lock.release(requested=self._stop_requested)
            self._lock = None

    async def _run(self, *, task_status: TaskStatus[None], install_signals: bool) -> None:
        await self.engine.recover()
        self.watchdog = self._build_watchdog()
        async with anyio.create_task_group() as outer:
            work = anyio.CancelScope()

            async def working(*, task_status: TaskStatus[None]) -> None:
                with work:
                    async with anyio.create_task_group() as tg:
                        assert self.watchdog is not None
                        await tg.start(self.watchdog.run)  # every component is up
                        tg.start_soon(self._reload_loop)
                        interval = sdnotify.watchdog_interval()
                        if interval is not None:  # under systemd with WatchdogSec=
                            tg.start_soon(sdnotify.keep_alive, interval)
                        task_status.started()

            await outer.start(working)
            if install_signals:
                outer.start_soon(self._on_signal, work)
            log.info(
                f"grace serve ready: {len(self.engine.playbooks)} playbooks, "
                f"{len(self.sources)} sources, matcher backend {self.matcher.backend}, "
                f"mode {self.settings.mode}, listening on {self.settings.listen}",
                event_type="daemon.ready",
            )
            task_status.started()

    def _build_watchdog(self) -> ComponentWatchdog:
        """The components of this process, in start order (docs/watchdog.md)."""
        cfg = self.settings.watchdog
        components = [Component("runner", self._run_runner)]
        if self.settings.services:
            # The supervisor writes its own row (grace.supervisor): durable=False.
            components.append(Component("supervisor", self._supervise, durable=False))
        components += [Component("sources", self._run_sources), Component("api", self._serve_http)]
        if cfg.enabled:
            components.append(Component("peers", self._keep_watchdog))
        counters = self.pipeline.counters
        return ComponentWatchdog(
            components,
            config=cfg,
            beats=self.beats,
            store=self.engine.store,
            on_restart=lambda name: counters.component_restarts.update([name]),
        )

    async def _run_runner(self, *, task_status: TaskStatus[None]) -> None:
        """The runner: decisions, workers, maintenance (it beats on every maintenance tick)."""
        self.pipeline.on_tick = self.beats.beater("runner")
        await self.pipeline.run(task_status=task_status)

    async def _tick(self, name: str, alive: Callable[[], bool] = lambda: True) -> None:
        """Beat ``name`` once a second while ``alive()`` (for components without a loop)."""
        while True:
            if alive():
                self.beats.beat(name)
            await anyio.sleep(min(1.0, self.settings.watchdog.heartbeat_s))

    async def _keep_watchdog(self, *, task_status: TaskStatus[None]) -> None:
        """Tier 2: keep ``grace watchdog`` running (docs/watchdog.md)."""
        from grace.watchdog import PeerKeeper, keep_peer

        keeper = PeerKeeper(
            "watchdog",
            data_dir=self.settings.data_dir,
            store=self.engine.store,
            config=self.settings.watchdog,
            database_url=self.settings.database_url,
            config_file=self.config_file,
            actor="serve",
        )
        await keep_peer(keeper, beat=self.beats.beater("peers"), task_status=task_status)

    async def _supervise(self, *, task_status: TaskStatus[None]) -> None:
        """Keep ``services:`` running (docs/supervisor.md). Cancelled with the other work at
        the end of the drain; the services themselves keep running and are adopted next time."""
        from grace.supervisor import Supervisor

        emit = self.pipeline.emit
        supervisor = Supervisor.from_settings(self.settings, self.engine.store, emit=emit)
        supervisor.on_beat = self.beats.beater("supervisor")
        await supervisor.run(task_status=task_status)

    async def _run_sources(self, *, task_status: TaskStatus[None]) -> None:
        """The event sources (log tails, probes, schedules…), beating while their group runs.

        A source whose ``run`` takes anyio's ``task_status`` is started with ``tg.start``: the
        daemon is not ready (no ``/health``) until it says it is watching (a log source: every
        file opened at its offset, so a line written once the daemon answers is never missed).
        """
        async with anyio.create_task_group() as tg:
            for src in self.sources:
                if "task_status" in inspect.signature(src.run).parameters:
                    await tg.start(src.run, self.pipeline.emit)
                else:
                    tg.start_soon(src.run, self.pipeline.emit)
            tg.start_soon(self._tick, "sources")
            task_status.started()

    async def _serve_http(self, *, task_status: TaskStatus[None]) -> None:
        import uvicorn

        from grace.api import serve_app

        host, _, port = self.settings.listen.rpartition(":")
        # /health and POST /api/events now; FastAPI and the rest at their first request.
        app = serve_app(self.pipeline, settings=self.settings, engine=self.engine)
        # httptools (C) parses HTTP/1.1 at about half the CPU per request of h11, uvicorn's
        # pure-Python fallback (docs/BENCHMARKS.md, "HTTP intake").
        config = uvicorn.Config(
            app,
            host=host or "127.0.0.1",
            port=int(port),
            log_config=None,
            lifespan="off",
            http="httptools",
        )
        server = uvicorn.Server(config)
        # Signals are the daemon's to handle (drain first); uvicorn must not take them over.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._announce, server)
                tg.start_soon(self._tick, "api", lambda: server.started and not server.should_exit)
                task_status.started()
                await server.serve()
                tg.cancel_scope.cancel()
        finally:
            # Cancelled (shutdown): close the listening sockets now, so the port is free at once.
            with anyio.CancelScope(shield=True):
                server.should_exit = True
                for listener in getattr(server, "servers", []):
                    listener.close()
                    await listener.wait_closed()

    async def _announce(self, server: Any) -> None:
        """Once the HTTP API answers: tell systemd (``READY=1``), and say so when nobody can
        use the API yet (auth on and no token)."""
        # uvicorn offers no event for "listening": a 10 ms poll at start-up only.
        while not server.started:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        sdnotify.notify(
            "READY=1",
            f"STATUS=serving {len(self.engine.playbooks)} playbooks on {self.settings.listen}",
        )
        if self.settings.api.auth and not await anyio.to_thread.run_sync(
            self.engine.store.has_tokens
        ):
            log.warning(
                "the API needs a token and none exists: create one with "
                "'grace token create --role admin --name YOU' (docs/api-auth.md)",
                event_type="daemon.no_tokens",
            )

    async def _on_signal(self, work: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.warning(
                    f"received {signal.Signals(signum).name}: stopping intake, draining runs "
                    f"for up to {self.drain_s:g}s",
                    event_type="daemon.stopping",
                )
                await self.stop(work)
                return

    async def stop(self, work: anyio.CancelScope) -> None:
        """Stop sources and HTTP, let runs finish for ``drain_s``, then cancel the rest."""
        sdnotify.notify("STOPPING=1", f"STATUS=draining runs for up to {self.drain_s:g}s")
        self._stop_requested = True
        if self.watchdog is not None:
            await self.watchdog.stop("sources", "api")
        await self.pipeline.close_intake()
        with anyio.move_on_after(self.drain_s):
            # busy() spans two streams and a counter; a 50 ms poll while draining is plenty.
            while self.pipeline.busy():  # noqa: ASYNC110
                await anyio.sleep(0.05)
        work.cancel()

    async def _reload_loop(self) -> None:
        while True:
            await anyio.sleep(self.reload_interval_s)
            current = _playbook_mtimes(self.settings)
            if current != self._mtimes:
                self._mtimes = current
                await anyio.to_thread.run_sync(self.reload)

    def reload(self) -> None:
        """Reload playbooks; a file that no longer loads keeps its previous version running."""
        previous = self.engine.playbooks
        loaded, errors = self.engine.load_playbooks()
        rejected = {p.file: err for err in errors for p in err.problems}
        for name, old in previous.items():
            err = rejected.get(old.file)
            if err is not None and name not in loaded:
                loaded[name] = old
                log.warning(
                    f"kept the previous version of {name}: the edit was rejected: {err}",
                    event_type="playbook.kept",
                )
        # Swapped whole, the library first: nobody sees a rejected playbook missing.
        self.engine.playbooks = loaded
        self.engine.playbook_errors = errors
        cache = self.settings.data_dir / "cache"
        matcher = build_matcher(self.engine.playbooks, cache)
        self.matcher_slot[0] = matcher
        self.matcher = matcher
        # Log sources get a filter over the new triggers: built now if one was in use (a log
        # source keeps scanning), else on first use.
        if self.line_filter_matcher is not None:
            self.line_filter_matcher = _line_matcher(matcher, cache)
        log.info(
            f"playbooks reloaded: {len(self.engine.playbooks)}", event_type="playbook.reloaded"
        )


def default_guards(engine: Engine) -> list[Guard]:
    """The guard chain, in order: the first objection decides (docs/governance.md)."""
    return build_guards(engine.store, engine.settings.governance, calendar=engine.calendar)


def _webhook_notifier(settings: Settings) -> Callable[[dict[str, object]], None] | None:
    """POST escalations to ``governance.escalation_webhook`` (called from a worker thread)."""
    url = settings.governance.escalation_webhook
    if url is None:
        return None

    def notify(notice: dict[str, object]) -> None:
        import httpx

        response = httpx.post(str(url), json=notice, timeout=10.0)
        response.raise_for_status()

    return notify


def _line_matcher(matcher: Matcher, cache: Path | None) -> Matcher:
    traceback = Trigger(
        playbook="__traceback__",
        index=0,
        type="log_message",
        pattern=TRACEBACK_PATTERN,
        severity=None,
        service=None,
    )
    return Matcher([*matcher.triggers, traceback], cache_dir=cache)


def _scheduled_jobs(playbooks: dict[str, Playbook]) -> list[dict[str, str]]:
    jobs = []
    for name, pb in sorted(playbooks.items()):
        for i, trig in enumerate(pb.spec.triggers):
            if trig.type == "scheduled" and trig.cron:
                jobs.append(
                    {
                        "job": f"{name}:{i}",
                        "playbook": name,
                        "cron": trig.cron,
                        "timezone": trig.timezone,
                    }
                )
    return jobs


def _playbook_mtimes(settings: Settings) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in settings.playbook_dirs:
        for p in Path(d).rglob("*.y*ml") if Path(d).is_dir() else []:
            try:
                out[str(p)] = p.stat().st_mtime
            except OSError:
                continue
    return out


async def serve(
    settings: Settings,
    *,
    ready: Callable[[Daemon], None] | None = None,
    launch_argv: list[str] | None = None,
    config_file: str | None = None,
) -> None:
    """Build and run a daemon until it is told to stop.

    ``launch_argv`` and ``config_file`` say how this process was started: the healer
    watchdog restarts it the same way (docs/watchdog.md).
    """
    daemon = Daemon.create(settings)
    daemon.launch_argv, daemon.config_file = launch_argv, config_file
    try:
        # Outside the task group, so that "already running" reaches the CLI as itself.
        daemon.claim()
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            if ready is not None:
                ready(daemon)
    finally:
        daemon.release()
        daemon.engine.close()
