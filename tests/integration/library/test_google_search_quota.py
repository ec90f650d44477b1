"""The bundled ``google_search_quota`` playbook against a real service under a real ``grace serve``.

The search service (tests/fixtures/apps/search_service) runs supervised by the daemon and
searches through a fake Google Custom Search API on 127.0.0.1 that really answers
``429 Too Many Requests`` (with ``Retry-After``) once its quota is used up. Grace tails the
service's log, sees the 429 (or the service's own "quota 95% used" warning), pauses the
missions, switches the provider in the service's YAML config to bing, notifies a webhook,
resumes the missions, and schedules ``google_search_quota_restore``, which really fires when
the quota resets and puts google back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from grace.config import Settings
from grace.runs import Run, RunStatus
from grace.store import open_store
from grace.store._timers import Timers
from grace.supervisor import read_state
from grace.testing import eventually as _eventually
from grace.testing import free_port, serving

APP = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "search_service"
sys.path.insert(0, str(APP))
from fake_apis import FakeBing, FakeGoogle, WebhookSink  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

CONFIG = """\
# search_service: which search API the missions use
search:
  provider: google   # fallback chain: google -> bing -> duckduckgo -> mock
  providers:
    google: {{url: "{google}", key: test-google-key, cx: test-cx}}
    bing: {{url: "{bing}", key: test-bing-key}}
  quota: {quota}
"""
PAGES = 8
RESET_S = 6


@dataclass
class App:
    dir: Path
    config: Path
    port: int
    google: FakeGoogle
    bing: FakeBing
    hook: WebhookSink

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provider(self) -> str:
        from ruamel.yaml import YAML

        return str(YAML(typ="safe").load(self.config.read_text())["search"]["provider"])

    def missions(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.api}/api/missions", timeout=5)
        reply.raise_for_status()
        return list(reply.json()["missions"])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with FakeGoogle(quota=5, reset_s=RESET_S) as google, FakeBing() as bing, WebhookSink() as hook:
        d = tmp_path / "search"
        d.mkdir()
        yield App(d, d / "config.yaml", free_port(), google, bing, hook)  # type: ignore[arg-type]


def _settings(
    tmp_path: Path,
    app: App,
    database_url: str,
    *,
    mode: str,
    quota: str,
    interval: float = 0.1,
    with_api: bool = True,
) -> Settings:
    app.config.write_text(
        CONFIG.format(google=app.google.url, bing=app.bing.url, quota=quota), encoding="utf-8"
    )
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    log_dir = tmp_path / "logs"
    argv = [
        sys.executable,
        str(APP / "search_service.py"),
        "--port",
        str(app.port),
        "--config",
        str(app.config),
        "--state",
        str(app.dir / "state.json"),
        "--interval",
        str(interval),
    ]
    entry = {"config_file": str(app.config), "api": app.api, "notify_webhook": app.hook.url}
    if not with_api:
        del entry["api"]
    return Settings(
        data_dir=tmp_path / ".grace",
        log_dir=log_dir,
        database_url=database_url,
        playbook_dirs=[tmp_path / "playbooks"],
        bundled_playbooks=True,
        mode=mode,  # type: ignore[arg-type]
        listen=f"127.0.0.1:{free_port()}",
        services=[{"name": "search", "argv": argv}],
        sources=[
            {
                "type": "log",
                "path": str(log_dir / "services" / "search.log"),
                "service": "search",
                "start_at": "beginning",
            }
        ],
        config={"search_quota": {"search": entry}},
    )


@contextlib.contextmanager
def _killing_services(data_dir: Path) -> Iterator[None]:
    """grace serve leaves its services running when it stops (they are adopted next time)."""
    try:
        yield
    finally:
        state = read_state(data_dir, "search")
        if state is not None and state.pid:
            with contextlib.suppress(OSError):
                os.killpg(state.pid, signal.SIGKILL)


eventually = partial(_eventually, every=0.1, ignore=(httpx.HTTPError, OSError, ValueError))


async def _start_missions(app: App, pages: int = PAGES) -> None:
    await eventually(
        lambda: httpx.get(f"{app.api}/health", timeout=1).is_success,
        within=30,
        what="the service answers",
    )
    for query in ("grace recovery", "quota fallback"):
        async with httpx.AsyncClient(timeout=5) as client:
            reply = await client.post(
                f"{app.api}/api/missions", json={"query": query, "pages": pages}
            )
        assert reply.status_code == 201, reply.text


def _runs(store: Any, playbook: str) -> list[Run]:
    return list(store.list_runs(playbook=playbook, limit=100))


def _finished(store: Any, playbook: str) -> Run | None:
    runs = [
        r for r in _runs(store, playbook) if r.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    ]
    return runs[-1] if runs else None


def _switching_run(store: Any) -> Run | None:
    """The google_search_quota run that switched the provider (later repeats change nothing)."""
    runs = _runs(store, "google_search_quota")
    switched = [r for r in runs if r.outputs.get("switch", {}).get("changed")]
    assert len(switched) <= 1, [r.id for r in switched]
    return switched[0] if switched and switched[0].status.value == "succeeded" else None


def _check_missions(app: App, pages: int = PAGES) -> dict[str, int]:
    """Every mission finished every page exactly once, in order; pages served per provider."""
    served: dict[str, int] = {}
    for m in app.missions():
        assert m["state"] == "done", m
        done = [r["page"] for r in m["results"]]
        assert done == list(range(1, pages + 1)), m  # progress kept: no page lost or repeated
        for r in m["results"]:
            served[r["provider"]] = served.get(r["provider"], 0) + 1
            assert r["titles"], r
            assert r["titles"][0].startswith(f"{r['provider']}: "), r
    return served


async def test_a_429_switches_to_bing_keeps_mission_progress_and_restores_google(
    tmp_path: Path, app: App, database_url: str
) -> None:
    settings = _settings(tmp_path, app, database_url, mode="execute", quota="{}")
    store = open_store(database_url)
    with _killing_services(settings.data_dir):
        async with serving(settings):
            await _start_missions(app)
            # The fake Google runs out after 5 queries and answers 429 with Retry-After.
            await eventually(lambda: app.provider() == "bing", within=60, what="config names bing")
            run = await eventually(lambda: _switching_run(store), within=30, what="the run ends")
            await eventually(
                lambda: all(m["state"] == "done" for m in app.missions()),
                within=60,
                what="missions finish on bing",
            )

            # Paused with their progress, then resumed from exactly there.
            paused = {m["id"]: m for m in run.outputs["pause"]["json"]["missions"]}
            resumed = {m["id"]: m for m in run.outputs["resume"]["json"]["missions"]}
            assert set(paused) == {"m-1", "m-2"}
            for mid, m in paused.items():
                assert m["state"] == "paused", m
                assert 0 < m["done"] < PAGES or m["done"] == 0, m
                assert resumed[mid]["state"] == "running"
                assert resumed[mid]["done"] == m["done"]
            assert sum(m["done"] for m in paused.values()) == 5  # what google served
            served = _check_missions(app)
            assert served == {"google": 5, "bing": 2 * PAGES - 5}, served
            assert _switching_run(store) == run  # one switch, never past bing
            assert app.google.served() == 5
            assert app.google.rejected >= 1
            assert app.bing.served() == 2 * PAGES - 5

            switch = run.outputs["switch"]
            assert (switch["previous"], switch["value"], switch["changed"]) == (
                "google",
                "bing",
                True,
            )
            backup = Path(switch["backup_path"])
            assert "provider: google   # fallback chain" in backup.read_text()  # noqa: ASYNC240
            text = app.config.read_text()
            assert (
                "  provider: bing     # fallback chain: google -> bing -> duckduckgo -> mock\n"
                in text
            )
            assert text.startswith("# search_service: which search API the missions use\n")

            notes = app.hook.received()
            assert any(
                "switched to bing" in n["title"] and n["service"] == "search" for n in notes
            ), notes

            # The restore is scheduled for when the quota resets (Retry-After), and fires then.
            timer = Timers(store).get("google_search_quota_restore:search")
            assert timer is not None
            assert timer["playbook"] == "google_search_quota_restore"
            assert timer["vars"] == {"service": "search", "provider": "google", "fallback": "bing"}
            assert timer["parent_run_id"] == run.id
            await eventually(
                lambda: app.provider() == "google", within=RESET_S + 30, what="google is back"
            )
            restore = await eventually(
                lambda: _finished(store, "google_search_quota_restore"),
                within=30,
                what="restore ends",
            )
            assert restore.status is RunStatus.SUCCEEDED, restore.error
            assert restore.trigger == "schedule"
            assert restore.created_at >= datetime.fromisoformat(timer["due_at"])  # not before
            delay = datetime.fromisoformat(timer["due_at"]) - datetime.fromisoformat(
                timer["scheduled_at"]
            )
            retry_after = timedelta(seconds=int(run.captures["retry_after"]))
            assert abs(delay - retry_after) < timedelta(seconds=1)  # the Retry-After
            assert 1 <= int(run.captures["retry_after"]) <= RESET_S
            assert restore.parent_run_id == run.id
            fired = Timers(store).get("google_search_quota_restore:search")
            assert fired is not None
            assert fired["status"] == "fired"
            assert fired["run_id"] == restore.id
            assert any("restored to google" in n["title"] for n in app.hook.received())

            # The service really searches through google again (its quota has reset).
            async with httpx.AsyncClient(timeout=5) as client:
                reply = await client.get(f"{app.api}/api/search", params={"q": "after restore"})
            assert reply.status_code == 200, reply.text
            assert reply.json()["provider"] == "google"
            assert app.google.served() == 6
    store.close()


async def test_quota_95_percent_switches_before_the_first_429(
    tmp_path: Path, app: App, database_url: str
) -> None:
    app.google.quota = 1000  # Google never says 429 here: the service's own count warns first
    # 60 pages at about 6 a second: Grace has seconds to switch after the warning at 19.
    settings = _settings(
        tmp_path, app, database_url, mode="execute", quota="{google: 20, window_s: 8}", interval=0.3
    )
    pages = 30
    store = open_store(database_url)
    with _killing_services(settings.data_dir):
        async with serving(settings):
            await _start_missions(app, pages)
            await eventually(lambda: app.provider() == "bing", within=60, what="config names bing")
            run = await eventually(lambda: _switching_run(store), within=30, what="the run ends")
            assert run.captures["quota_pct"] == "95"
            await eventually(
                lambda: all(m["state"] == "done" for m in app.missions()), within=60, what="done"
            )
            served = _check_missions(app, pages)
            assert app.google.rejected == 0
            # A page searched while its mission was being paused is searched again on resume.
            assert served["google"] >= 19
            assert served["google"] <= app.google.served() <= served["google"] + 2
            assert served.get("bing") == app.bing.served() == 2 * pages - served["google"]
            timer = Timers(store).get("google_search_quota_restore:search")
            assert timer is not None
            await eventually(lambda: app.provider() == "google", within=40, what="google is back")
    store.close()


async def test_observe_mode_only_proposes(tmp_path: Path, app: App, database_url: str) -> None:
    settings = _settings(tmp_path, app, database_url, mode="observe", quota="{}")
    store = open_store(database_url)
    with _killing_services(settings.data_dir):
        async with serving(settings):
            await _start_missions(app)
            run = await eventually(
                lambda: _runs(store, "google_search_quota"), within=60, what="a proposal"
            )
            assert run[0].status is RunStatus.PROPOSED
            await anyio.sleep(1.0)  # had anything executed, it would have by now
            assert app.provider() == "google"
            assert all(m["state"] == "running" for m in app.missions())
            assert Timers(store).get("google_search_quota_restore:search") is None
            assert app.bing.served() == 0
            assert app.hook.received() == []
    store.close()


async def test_without_a_missions_api_only_the_provider_switches(
    tmp_path: Path, app: App, database_url: str
) -> None:
    settings = _settings(tmp_path, app, database_url, mode="execute", quota="{}", with_api=False)
    store = open_store(database_url)
    with _killing_services(settings.data_dir):
        async with serving(settings):
            await _start_missions(app)
            run = await eventually(lambda: _switching_run(store), within=60, what="a switch")
            status = {a.step: a.status.value for a in store.step_attempts(run.id)}
            assert status["pause"] == status["resume"] == "skipped"  # no api to pause through
            assert status["switch"] == "succeeded"
            assert app.provider() == "bing"
            await eventually(
                lambda: all(m["state"] == "done" for m in app.missions()), within=60, what="done"
            )
            assert _check_missions(app) == {"google": 5, "bing": 2 * PAGES - 5}
            assert _switching_run(store) == run  # one switch, never past bing
            assert Timers(store).get("google_search_quota_restore:search") is not None
    store.close()
