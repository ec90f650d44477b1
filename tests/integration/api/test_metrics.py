"""``GET /metrics`` over a real engine: exact values from real runs, SQLite and PostgreSQL.

The app is the real :func:`grace.api.create_app` with a real :class:`grace.engine.Engine` on
the ``database_url`` fixture and a real (not started) :class:`grace.pipeline.Pipeline` as its
ingest door; the metrics router is mounted by the test. The exposition is parsed with
prometheus-client's own parser and values are asserted exactly. The engine runs on a
:class:`grace.testing.FakeClock`, so step and recovery durations are exact (``sleep`` advances it).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import anyio
import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from grace.api import create_app
from grace.api.routes import metrics as metrics_route
from grace.config import Settings
from grace.engine import Engine
from grace.metrics import METRIC_NAMES
from grace.pipeline import Pipeline
from grace.runs import RunStatus
from grace.store import _tables
from grace.testing import FakeClock

pytestmark = pytest.mark.anyio

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "grace-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "grace-dashboard.json"
PROMTOOL = Path("/usr/bin/promtool")
PROMETHEUS = Path("/usr/bin/prometheus")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

SETTLE = """
name: settle
metadata:
  risk_level: low
  autonomy_tier: 3
steps:
  - name: pause
    action: sleep
    with: {seconds: 3}
  - name: say
    action: log
    with: {message: "settled"}
"""
CRITICAL = """
name: drop_replica
metadata:
  risk_level: critical
  autonomy_tier: 2
steps:
  - name: say
    action: log
    with: {message: "dropping the replica"}
"""


@pytest.fixture
def clock() -> FakeClock:
    """The engine's clock."""
    return FakeClock()


@pytest.fixture
def engine(
    tmp_path: Path,
    database_url: str,
    playbook_dir: Path,
    write_playbook: Callable[[str, str], Path],
    clock: FakeClock,
) -> Iterator[Engine]:
    """An engine in execute mode over ``settle`` and ``drop_replica``, change windows off."""
    write_playbook("settle", SETTLE)
    write_playbook("critical", CRITICAL)
    settings = Settings(
        data_dir=tmp_path / ".grace",
        database_url=database_url,
        playbook_dirs=[playbook_dir],
        log_dir=tmp_path / "logs",
        bundled_playbooks=False,
        mode="execute",
        governance={"change_windows": {"enabled": False}},
    )
    with Engine(settings, clock=clock) as built:
        yield built


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    """The daemon's ingest door, not started: submitted events wait in its queue."""
    # The decider only runs once the pipeline is started; these tests never start it.
    return Pipeline(store=engine.store, decider=cast(Any, None), runner=engine.runner)


@pytest.fixture
async def client(engine: Engine, pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app serving ``engine`` and ``pipeline``, with ``/metrics`` mounted."""
    app = create_app(pipeline, engine=engine, auth=False)
    app.include_router(metrics_route.router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
    ) as c:
        yield c


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of ``GET /metrics``, by (name, sorted labels)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (KeyError when absent)."""
    return samples[(name, tuple(sorted(labels.items())))]


async def run_settle(engine: Engine) -> str:
    """Create a ``settle`` run and execute it to success (3 s on the fake clock)."""
    run = engine.new_run("settle", requested_by="alice")
    assert run.status is RunStatus.QUEUED
    done = await engine.runner.execute(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    return run.id


class TestRunsAndSteps:
    async def test_counts_durations_and_mttr_come_from_the_store(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        """Two succeeded runs, one queued, one awaiting approval: exact counts, buckets, MTTR."""
        await run_settle(engine)
        clock.advance(10)
        await run_settle(engine)
        queued = engine.new_run("settle", requested_by="alice")
        waiting = engine.new_run("drop_replica", requested_by="alice")
        assert waiting.status is RunStatus.AWAITING_APPROVAL
        clock.advance(60)

        samples = await scrape(client)

        assert value(samples, "grace_store_up") == 1
        assert value(samples, "grace_runs", status="succeeded", playbook="settle") == 2
        assert value(samples, "grace_runs", status="queued", playbook="settle") == 1
        assert (
            value(samples, "grace_runs", status="awaiting_approval", playbook="drop_replica") == 1
        )
        assert sum(v for (n, _), v in samples.items() if n == "grace_runs") == 4
        assert value(samples, "grace_approvals_pending") == 1
        assert value(samples, "grace_approvals_oldest_age_seconds") == 60
        assert value(samples, "grace_runs_queued_oldest_age_seconds") == 60
        assert queued.created_at == waiting.created_at
        assert value(samples, "grace_runs_lease_expired") == 0

        sleep_count = value(samples, "grace_step_duration_seconds_count", action="sleep")
        assert sleep_count == 2
        assert value(samples, "grace_step_duration_seconds_sum", action="sleep") == pytest.approx(6)
        assert value(samples, "grace_step_duration_seconds_bucket", action="sleep", le="2.5") == 0
        assert value(samples, "grace_step_duration_seconds_bucket", action="sleep", le="5.0") == 2
        assert value(samples, "grace_step_duration_seconds_bucket", action="sleep", le="+Inf") == 2
        assert value(samples, "grace_step_duration_seconds_bucket", action="log", le="0.05") == 2
        assert value(samples, "grace_step_duration_seconds_sum", action="log") == pytest.approx(0)

        assert value(samples, "grace_run_recovery_seconds_count", playbook="settle") == 2
        recovered = value(samples, "grace_run_recovery_seconds_sum", playbook="settle")
        assert recovered == pytest.approx(6)
        assert value(samples, "grace_mttr_seconds") == pytest.approx(3)
        assert value(samples, "grace_emergency_stop_active") == 0
        assert value(samples, "grace_audit_tail_ok") == 1
        assert value(samples, "grace_audit_head_seq") > 0

    async def test_an_expired_lease_counts_as_stalled(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        """A claimed run whose worker stopped renewing shows in ``grace_runs_lease_expired``."""
        run = engine.new_run("settle", requested_by="alice")
        engine.store.claim_run(run.id, owner="dead-worker", lease_s=30)
        clock.advance(10)
        assert value(await scrape(client), "grace_runs_lease_expired") == 0
        clock.advance(60)
        samples = await scrape(client)
        assert value(samples, "grace_runs_lease_expired") == 1
        assert value(samples, "grace_runs", status="running", playbook="settle") == 1
        assert value(samples, "grace_runs_queued_oldest_age_seconds") == 0


class TestGovernanceState:
    async def test_emergency_stop_and_open_circuits(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        """The stop reads 1 while in force; a circuit counts until its ``until`` passes."""
        samples = await scrape(client)
        assert value(samples, "grace_emergency_stop_active") == 0
        assert not [k for k in samples if k[0] == "grace_circuits_open"]

        engine.store.set_emergency_stop(by="alice", reason="maintenance")
        ticket = engine.store.open_circuit(
            "settle:abc",
            playbook="settle",
            service="vectors",
            until=clock.now() + _minutes(5),
            title="settle keeps failing",
            body="",
            context={},
            drafts=[],
        )
        assert ticket is not None
        samples = await scrape(client)
        assert value(samples, "grace_emergency_stop_active") == 1
        assert value(samples, "grace_circuits_open", playbook="settle") == 1

        engine.store.clear_emergency_stop(by="alice")
        clock.advance(301)
        samples = await scrape(client)
        assert value(samples, "grace_emergency_stop_active") == 0
        assert ("grace_circuits_open", (("playbook", "settle"),)) not in samples


class TestAudit:
    async def test_the_tail_check_follows_checkpoints_and_tampering(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """After a checkpoint the checkpoint seq is the head; a rewritten head hash reads 0."""
        await run_settle(engine)
        engine.audit.checkpoint()
        samples = await scrape(client)
        head = value(samples, "grace_audit_head_seq")
        assert head > 0
        assert value(samples, "grace_audit_checkpoint_seq") == head
        assert value(samples, "grace_audit_tail_ok") == 1

        with engine.store.engine.begin() as conn:
            conn.execute(update(_tables.audit_head).values(hash="0" * 64))
        assert value(await scrape(client), "grace_audit_tail_ok") == 0


class TestPipeline:
    async def test_ingest_counters_are_the_pipelines(self, client: httpx.AsyncClient) -> None:
        """An event sent twice with one id: one received, one duplicate, one waiting in queue."""
        event = {"id": "evt_one", "source": "probe", "kind": "log", "message": "disk full"}
        for _ in range(2):
            response = await client.post("/api/events", json=event)
            assert response.status_code == 202, response.text
        samples = await scrape(client)
        assert value(samples, "grace_events_received_total", source="probe") == 1
        assert value(samples, "grace_events_duplicate_total", source="probe") == 1
        assert value(samples, "grace_event_queue_depth") == 1
        assert value(samples, "grace_events_matched_total") == 0
        assert value(samples, "grace_event_queue_full_waits_total") == 0
        assert not [k for k in samples if k[0] == "grace_events_dropped_total"]


class TestApps:
    async def test_two_apps_keep_their_own_registries(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """A second app (no engine) in the same process exports no store metrics of the first."""
        await run_settle(engine)
        other = create_app(
            Pipeline(store=engine.store, decider=cast(Any, None), runner=engine.runner),
            auth=False,
        )
        other.include_router(metrics_route.router)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other.test"
        ) as c:
            bare = await scrape(c)
        assert not [k for k in bare if k[0].startswith(("grace_runs", "grace_store_up"))]
        assert value(bare, "grace_event_queue_depth") == 0
        first = await scrape(client)
        assert value(first, "grace_runs", status="succeeded", playbook="settle") == 1


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


# -- deploy/: the alert rules and the Grafana dashboard ------------------------------------------


@pytest.fixture
def skip_or_fail(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """The suite's ``skip_or_fail`` (tests/conftest.py): skips locally, fails in CI."""
    root = str(Path(__file__).resolve().parents[2] / "conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == root:
            helper: Callable[[str], None] = plugin.skip_or_fail
            return helper
    pytest.fail(f"{root} is not loaded as a conftest")


def promtool(skip_or_fail: Callable[[str], None]) -> Path:
    """Debian's ``promtool`` (package ``prometheus``), or skip (fail in CI)."""
    if not PROMTOOL.exists():
        skip_or_fail(f"{PROMTOOL} is missing: apt-get install -y prometheus")
    return PROMTOOL


def exported_sample_names() -> set[str]:
    """Every sample name a scrape can carry: histograms and summaries add their suffixes."""
    names = set(METRIC_NAMES)
    for base in ("grace_step_duration_seconds", "grace_run_recovery_seconds"):
        names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def dashboard_exprs() -> list[str]:
    """Every PromQL expression of the Grafana dashboard (rows' panels included)."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            exprs.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return exprs


class TestDeploy:
    def test_the_rules_load_in_prometheus(self, skip_or_fail: Callable[[str], None]) -> None:
        """``promtool check rules`` accepts deploy/prometheus/grace-rules.yml."""
        tool = promtool(skip_or_fail)
        done = subprocess.run(
            [str(tool), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS: 6 rules found" in done.stdout

    def test_the_alerts_fire_when_they_should(
        self, skip_or_fail: Callable[[str], None], tmp_path: Path
    ) -> None:
        """``promtool test rules``: each alert fires on its series after its ``for``, not before."""
        tool = promtool(skip_or_fail)
        from ruamel.yaml import YAML

        rules = {r["alert"]: r for r in YAML(typ="safe").load(RULES)["groups"][0]["rules"]}

        def fired(name: str, **labels: str) -> dict[str, Any]:
            rule = rules[name]
            notes = {
                key: " ".join(
                    str(text)
                    .replace("{{ $labels.playbook }}", labels.get("playbook", ""))
                    .replace("{{ $labels.instance }}", labels.get("instance", ""))
                    .replace("{{ $value }}", "1")
                    .split()
                )
                for key, text in rule["annotations"].items()
            }
            return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": notes}

        def case(name: str, early: str, late: str, **labels: str) -> list[dict[str, Any]]:
            return [
                {"eval_time": early, "alertname": name, "exp_alerts": []},
                {"eval_time": late, "alertname": name, "exp_alerts": [fired(name, **labels)]},
            ]

        series = {
            # queued age passes 300 s at 6m; fires 5m later
            'grace_runs_queued_oldest_age_seconds{instance="a"}': "0+60x20",
            'grace_runs_lease_expired{instance="a"}': "0x20",
            'grace_audit_tail_ok{instance="a"}': "1 1 1 0x20",
            'grace_store_up{instance="a"}': "1 1 0x20",
            'grace_circuits_open{instance="a",playbook="settle"}': "0 0 1x20",
            'grace_circuits_open{instance="b",playbook="settle"}': "0 0 1x20",
            'grace_approvals_pending{instance="a"}': "0 0 11x20",
            'grace_approvals_oldest_age_seconds{instance="a"}': "0x20",
            'grace_emergency_stop_active{instance="a"}': "1x40",
        }
        plan = {
            "rule_files": [str(RULES)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [{"series": k, "values": v} for k, v in series.items()],
                    "alert_rule_test": [
                        *case("GraceRunnerStalled", "10m", "11m"),
                        *case("GraceAuditVerificationFailing", "4m", "5m"),
                        *case("GraceStoreUnreachable", "3m", "4m", instance="a"),
                        *case("GraceCircuitOpen", "1m", "2m", playbook="settle"),
                        *case("GraceApprovalBacklog", "11m", "12m"),
                        *case("GraceEmergencyStopActive", "29m", "30m"),
                    ],
                }
            ],
        }
        path = tmp_path / "grace-rules.test.yml"
        path.write_text(json.dumps(plan), encoding="utf-8")  # JSON is YAML
        done = subprocess.run(
            [str(tool), "test", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout

    def test_the_dashboard_queries_only_exported_metrics(self) -> None:
        """The Grafana JSON parses; each expr names at least one metric and only exported ones."""
        exprs = dashboard_exprs()
        assert len(exprs) >= 20
        exported = exported_sample_names()
        for expr in exprs:
            used = set(re.findall(r"\bgrace_[a-z0-9_]+", expr))
            assert used, expr
            assert used <= exported, (expr, used - exported)
        every = {name for expr in exprs for name in re.findall(r"\bgrace_[a-z0-9_]+", expr)}
        assert {n.removesuffix("_bucket") for n in every} >= {"grace_step_duration_seconds"}

    def test_the_dashboard_exprs_are_valid_promql(
        self, skip_or_fail: Callable[[str], None], tmp_path: Path
    ) -> None:
        """Each dashboard expr, as a recording rule, passes ``promtool check rules``."""
        tool = promtool(skip_or_fail)
        rules = [
            {"record": f"grace:dashboard_{i}", "expr": e} for i, e in enumerate(dashboard_exprs())
        ]
        path = tmp_path / "dashboard-rules.yml"
        path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
        done = subprocess.run(
            [str(tool), "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr

    async def test_a_scrape_exports_exactly_the_documented_families(
        self, client: httpx.AsyncClient, engine: Engine
    ) -> None:
        """The families of a scrape (with runs and steps) are METRIC_NAMES, no more, no less."""
        await run_settle(engine)
        response = await client.get("/metrics")
        families = {
            f.name + ("_total" if f.type == "counter" else "")
            for f in text_string_to_metric_families(response.text)
        }
        assert families == METRIC_NAMES


# -- a real Prometheus scrapes a real server ---------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _query(prom: httpx.AsyncClient, path: str, **params: str) -> Any:
    """The ``data`` of a Prometheus HTTP API answer, or None while it is not up yet."""
    try:
        response = await prom.get(path, params=params)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return response.json()["data"]


@dataclass
class PrometheusSetup:
    """A Prometheus command line scraping ``grace_port`` and loading the rules, and its log."""

    argv: list[str]
    grace_port: int
    prom_port: int
    log: IO[bytes]
    log_path: Path


@pytest.fixture
def prometheus_setup(
    tmp_path: Path, skip_or_fail: Callable[[str], None]
) -> Iterator[PrometheusSetup]:
    """Debian's Prometheus, configured to scrape 127.0.0.1:<grace_port> every second."""
    if not PROMETHEUS.exists():
        skip_or_fail(f"{PROMETHEUS} is missing: apt-get install -y prometheus")
    grace_port, prom_port = _free_port(), _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "grace", "static_configs": [{"targets": [f"127.0.0.1:{grace_port}"]}]}
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    argv = [
        str(PROMETHEUS),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        yield PrometheusSetup(argv, grace_port, prom_port, log, log_path)


@pytest.mark.slow
async def test_real_prometheus_scrapes_the_server_and_loads_the_rules(
    engine: Engine, pipeline: Pipeline, prometheus_setup: PrometheusSetup
) -> None:
    """Debian's Prometheus scrapes ``/metrics`` of a uvicorn server and evaluates the rules."""
    setup = prometheus_setup
    await run_settle(engine)
    app = create_app(pipeline, engine=engine, auth=False)
    app.include_router(metrics_route.router)
    server = _Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=setup.grace_port, log_level="warning", lifespan="off"
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            await server.listening.wait()
        process = await anyio.open_process(setup.argv, stdout=setup.log, stderr=setup.log)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{setup.prom_port}") as prom:
                query = 'grace_runs{job="grace",status="succeeded",playbook="settle"}'
                with anyio.fail_after(60):
                    while not (found := await _query(prom, "/api/v1/query", query=query)) or (
                        not found["result"]
                    ):
                        if process.returncode is not None:
                            pytest.fail(await anyio.Path(setup.log_path).read_text())
                        await anyio.sleep(0.2)
                assert [r["value"][1] for r in found["result"]] == ["1"]
                targets = await _query(prom, "/api/v1/targets")
                assert [t["health"] for t in targets["activeTargets"]] == ["up"]
                with anyio.fail_after(30):
                    while True:
                        groups = (await _query(prom, "/api/v1/rules"))["groups"]
                        rules = [r for g in groups for r in g["rules"]]
                        if rules and all(r["health"] != "unknown" for r in rules):
                            break
                        await anyio.sleep(0.2)
                assert len(rules) == 6
                assert {r["health"] for r in rules} == {"ok"}, rules
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()
            server.should_exit = True
