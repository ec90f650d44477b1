"""The bundled ``missing_module_recovery`` playbook against a real service that really fails to
import a module, under a real ``grace serve`` daemon (supervisor, log source, pipeline, runner).

The service (tests/fixtures/apps/missing_module/) runs from its own virtualenv, made here with
``python -m venv``; its pyproject declares ``tinyreq`` required and ``fancy-recs`` as the
optional feature ``recommendations``. Each test breaks it one way, lets the traceback reach
Grace through the service's log, and checks the repaired state: the flag file, the new pid and
the answers of ``/health``, the package really installed in the venv, the work order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

import grace
from grace.config import Settings
from grace.daemon import Daemon
from grace.runs import Run, RunStatus
from grace.supervisor import read_state
from grace.testing import eventually, free_port, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.postgres]

APP = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "missing_module"
LIBRARY = Path(grace.__file__).resolve().parent / "library"
PLAYBOOKS = ("missing_module_recovery.yaml", "missing_module_install.yaml")


def build_wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A real pure-Python wheel (``name/__init__.py`` + dist-info with a valid RECORD)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: grace-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def pip_install(venv: Path, wheels: Path, requirement: str) -> None:
    """Install from the local wheel folder into ``venv`` (which has no pip of its own)."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"),
            *("--no-index", "--find-links", str(wheels), "--disable-pip-version-check"),
            requirement,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def imports(venv: Path, module: str) -> bool:
    """Whether ``module`` imports with the venv's interpreter (Grace's packages not visible)."""
    code = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}"], capture_output=True, timeout=60
    ).returncode
    return code == 0


def health(port: int) -> dict[str, Any] | None:
    """``GET /health`` of the shop as JSON, or None when it does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return json.loads(body) if head.startswith(b"HTTP/1.0 200") else None


until = partial(eventually, within=60, every=0.1)
"""Poll ``check`` until truthy (grace.testing.eventually; 60 s, every 0.1 s)."""


@dataclass
class Shop:
    """The service's project folder, its venv, its wheelhouse, its port."""

    project: Path
    venv: Path
    wheels: Path
    port: int
    tmp: Path

    @property
    def flags(self) -> Path:
        return self.project / "flags.json"

    @property
    def log(self) -> Path:
        return self.tmp / "logs" / "services" / "shop.log"

    def answering(self) -> dict[str, Any] | None:
        """/health's answer once it comes from the pid the supervisor runs now, else None."""
        answer = health(self.port)
        state = read_state(self.tmp / ".grace", "shop")
        running = state is not None and state.status == "running" and state.pid
        return answer if answer is not None and answer["pid"] == running else None

    def restart_requests(self, daemon: Daemon) -> list[tuple[str, str]]:
        """(actor, action) of every audited request to the supervisor about the shop."""
        entries = daemon.engine.store.audit_entries(subject="service:shop")
        return [
            (e.actor, json.loads(e.payload_json)["action"])
            for e in entries
            if e.action == "service.requested"
        ]

    def settings(
        self, database_url: str, *, mode: str = "execute", env: dict[str, str] | None = None
    ) -> Settings:
        """A daemon supervising the shop, tailing its log, with the two bundled playbooks."""
        playbooks = self.tmp / "playbooks"
        playbooks.mkdir(exist_ok=True)
        for name in PLAYBOOKS:  # the bundled files as shipped (other bundled playbooks left out)
            shutil.copy(LIBRARY / name, playbooks / name)
        return Settings.model_validate(
            {
                "data_dir": self.tmp / ".grace",
                "log_dir": self.tmp / "logs",
                "database_url": database_url,
                "playbook_dirs": [playbooks],
                "bundled_playbooks": False,
                "mode": mode,
                "listen": f"127.0.0.1:{free_port()}",
                "drain_s": 5,
                "api": {"auth": False},
                "governance": {"change_windows": {"enabled": False}},
                "services": [
                    {
                        "name": "shop",
                        "argv": [str(self.venv / "bin" / "python"), "-u", "app.py", str(self.port)],
                        "cwd": str(self.project),
                        "env": env or {},
                        "restart": "on-failure",
                        "backoff": {"initial_s": 1, "max_s": 4},
                        "start_limit": {"burst": 3, "window_s": 120},
                    }
                ],
                "sources": [
                    {
                        "type": "log",
                        "path": str(self.log),
                        "service": "shop",
                        "start_at": "beginning",
                        "multiline": True,
                    }
                ],
                "config": {
                    "python_services": {
                        "shop": {
                            "project": str(self.project),
                            "health_url": f"http://127.0.0.1:{self.port}/health",
                            "find_links": [str(self.wheels)],
                            "no_index": True,
                        }
                    }
                },
            }
        )


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """The shop copied to tmp_path with an empty venv (no pip) and a wheel of tinyreq 1.0."""
    project = tmp_path / "shop"
    project.mkdir()
    for name in ("app.py", "pyproject.toml"):
        shutil.copy(APP / name, project / name)
    venv = project / ".venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "tinyreq", "1.0", "VERSION = '1.0'\n")
    return Shop(project, venv, wheels, free_port(), tmp_path)


def recovery_runs(daemon: Daemon) -> list[Run]:
    return [r for r in daemon.engine.store.list_runs() if r.playbook == "missing_module_recovery"]


def finished(daemon: Daemon, playbook: str) -> Run | None:
    runs = [r for r in daemon.engine.store.list_runs() if r.playbook == playbook]
    return next((r for r in runs if r.finished_at is not None), None)


async def test_optional_module_switches_the_feature_off_and_restarts(
    shop: Shop, database_url: str
) -> None:
    """fancy_recs is missing: the recommendations flag is switched off in the service's own
    flags file, the service restarts under a new pid and answers /health in degraded mode."""
    pip_install(shop.venv, shop.wheels, "tinyreq")
    async with serving(shop.settings(database_url)) as daemon:
        run = await until(lambda: finished(daemon, "missing_module_recovery"), what="the run")
        after = await until(shop.answering, within=30, what="the supervised shop answers")
        requests = shop.restart_requests(daemon)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert requests == [(f"run:{run.id}", "restart")]
    assert run.service == "shop"
    assert run.captures["module"] == "fancy_recs"
    assert "Traceback (most recent call last)" in run.event["attributes"]["traceback"]
    classify = run.outputs["classify"]
    assert (classify["classification"], classify["feature"], classify["distribution"]) == (
        "optional",
        "recommendations",
        "fancy-recs",
    )
    flags = json.loads(shop.flags.read_text())
    assert flags == {"recommendations": {"enabled": False, "expires_at": None}}
    restarted = run.outputs["restart_degraded"]
    assert restarted["status"] == "running"
    assert after["pid"] != restarted["previous_pid"]
    assert after == {
        "pid": after["pid"],
        "recommendations": False,
        "degraded": True,
        "tinyreq": "1.0",
    }
    assert run.outputs["alert"]["delivered"] is False  # logged (no webhook configured)
    assert not run.outputs.get("request_install")  # skipped: nothing to install
    assert not imports(shop.venv, "fancy_recs")  # nothing was installed for an optional feature


async def test_required_module_waits_for_approval_then_is_installed_into_the_venv(
    shop: Shop, database_url: str
) -> None:
    """tinyreq is missing (the optional feature is off): a child run waits for approval and
    nothing is installed before it. Approved, it installs tinyreq into the service's venv,
    restarts it, and /health answers under the new pid."""
    shop.flags.write_text('{"recommendations": {"enabled": false, "expires_at": null}}\n')
    assert not imports(shop.venv, "tinyreq")
    async with serving(shop.settings(database_url)) as daemon:
        store = daemon.engine.store
        parent = await until(lambda: finished(daemon, "missing_module_recovery"), what="parent")
        assert parent.status is RunStatus.SUCCEEDED, parent.error
        assert parent.outputs["classify"]["classification"] == "required"
        assert parent.outputs["classify"]["requirement"] == "tinyreq>=1.0"
        child_id = parent.outputs["request_install"]["run_id"]
        assert parent.outputs["request_install"]["status"] == "awaiting_approval"
        child = store.get_run(child_id)
        assert child.playbook == "missing_module_install"
        assert child.status is RunStatus.AWAITING_APPROVAL
        assert child.parent_run_id == parent.id
        assert child.vars["requirement"] == "tinyreq>=1.0"
        assert not imports(shop.venv, "tinyreq")  # nothing happens without a human
        assert health(shop.port) is None

        store.approve_run(child_id, approver="alice", reason="tinyreq is ours")
        done = await until(
            lambda: (r := store.get_run(child_id)).finished_at and r, within=90, what="install"
        )
        answer = await until(shop.answering, within=30, what="the supervised shop answers")
        requests = shop.restart_requests(daemon)
    assert done.status is RunStatus.SUCCEEDED, done.error
    install = done.outputs["install"]
    assert (install["distribution"], install["version"], install["pip"]) == (
        "tinyreq",
        "1.0",
        "grace",
    )
    assert imports(shop.venv, "tinyreq")
    freeze = await anyio.Path(install["freeze_file"]).read_text()
    assert "tinyreq" not in freeze.split("\n", 1)[1]  # the record of the venv before the change
    assert answer["tinyreq"] == "1.0"
    assert requests == [(f"run:{done.id}", "restart")]
    assert done.outputs["restart"]["status"] == "running"
    assert answer["recommendations"] is False  # only tinyreq was broken here: the feature stays off


async def test_unknown_module_opens_a_work_order_with_the_traceback(
    shop: Shop, database_url: str
) -> None:
    """A plugin nobody declared (ghostmod) is missing: a ticket carries the traceback; the
    venv and the flags file are left alone."""
    pip_install(shop.venv, shop.wheels, "tinyreq")
    shop.flags.write_text('{"recommendations": {"enabled": false, "expires_at": null}}\n')
    before = shop.flags.read_bytes()
    settings = shop.settings(database_url, env={"SHOP_PLUGINS": "ghostmod"})
    async with serving(settings) as daemon:
        run = await until(lambda: finished(daemon, "missing_module_recovery"), what="the run")
        tickets = daemon.engine.store.list_tickets()
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs["classify"]["classification"] == "unknown"
    assert "ghostmod" in run.outputs["classify"]["reason"]
    (ticket,) = [t for t in tickets if t.run_id == run.id]
    assert ticket.title == "shop cannot import ghostmod"
    assert ticket.service == "shop"
    assert "Traceback (most recent call last)" in ticket.body
    assert "ModuleNotFoundError: No module named 'ghostmod'" in ticket.body
    assert "app.py" in ticket.body
    assert shop.flags.read_bytes() == before
    assert "alert" in run.outputs


async def test_observe_mode_only_proposes(shop: Shop, database_url: str) -> None:
    """In observe mode the same fault yields a proposed run: no flag written, nothing restarted."""
    pip_install(shop.venv, shop.wheels, "tinyreq")
    async with serving(shop.settings(database_url, mode="observe")) as daemon:
        (run,) = await until(lambda: recovery_runs(daemon), what="a proposal")
        await anyio.sleep(1)
        runs = recovery_runs(daemon)
    assert run.status is RunStatus.PROPOSED
    assert run.captures["module"] == "fancy_recs"
    assert [r.status for r in runs] == [RunStatus.PROPOSED]
    assert not shop.flags.exists()
