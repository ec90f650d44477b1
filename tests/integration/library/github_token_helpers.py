"""Helpers for the github_token_missing tests: the fake GitHub and Vault servers, the miner,
a daemon's settings, and a search for a secret in everything Grace wrote."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from grace.store import Store
from grace.supervisor import read_state
from grace.testing import eventually as eventually  # re-exported for the tests
from grace.testing import free_port

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
GITHUB_FAKE = APPS / "github_fake" / "server.py"
VAULT_FAKE = APPS / "vault_fake" / "server.py"
MINER = APPS / "miner" / "miner.py"
LIBRARY = Path(__file__).resolve().parents[3] / "src" / "grace" / "library"
PLAYBOOK = "github_token_missing"


@contextlib.contextmanager
def server(argv: list[str], *, within: float = 20.0) -> Iterator[str]:
    """Run a fixture server (``python argv…``) until the block ends; yield the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], within)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on "):
            pytest.fail(f"{argv[0]} did not start within {within}s: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class GitHubFake:
    """The fake GitHub API: its URL, and what it was asked."""

    url: str
    requests_log: Path

    def requests(self) -> list[dict[str, Any]]:
        if not self.requests_log.exists():
            return []
        lines = self.requests_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@contextlib.contextmanager
def github_fake(tmp_path: Path, token: str) -> Iterator[GitHubFake]:
    """The fake GitHub API, which grants ``token`` 5000 requests per hour."""
    where = tmp_path / "github"
    where.mkdir()
    (where / "valid_token").write_text(token, encoding="utf-8")
    log = where / "requests.jsonl"
    with server(
        [str(GITHUB_FAKE), "--token-file", str(where / "valid_token"), "--requests-log", str(log)]
    ) as url:
        yield GitHubFake(url, log)


@contextlib.contextmanager
def vault_fake(tmp_path: Path, root_token: str, namespace: str | None = None) -> Iterator[str]:
    """The fake Vault (KV v2 at ``secret/``); yields its address."""
    where = tmp_path / "vault"
    where.mkdir()
    (where / "root_token").write_text(root_token, encoding="utf-8")
    extra = ["--namespace", namespace] if namespace else []
    with server([str(VAULT_FAKE), "--root-token-file", str(where / "root_token"), *extra]) as url:
        yield url


@dataclass
class Miner:
    """Where the miner lives: its folder, dotenv file and log."""

    dir: Path
    env_file: Path
    log: Path

    def service(self, api_url: str) -> dict[str, Any]:
        argv = [sys.executable, str(MINER), "--env-file", str(self.env_file)]
        argv += ["--api-url", api_url, "--log", str(self.log), "--interval", "0.3"]
        return {"name": "miner", "argv": argv, "cwd": str(self.dir)}


ENV_BEFORE = "# miner settings\nMINER_THREADS=4\nGITHUB_ORG=octocat\n"


def require(module: str) -> None:
    """Import ``module`` or skip the test (fail it in CI, where GRACE_REQUIRE_ALL=1)."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed (a dev dependency: pip install -e '.[dev]')"
        if os.environ.get("GRACE_REQUIRE_ALL") == "1":
            pytest.fail(f"{reason} (GRACE_REQUIRE_ALL=1: CI must provide it)")
        pytest.skip(reason)


def make_miner(tmp_path: Path) -> Miner:
    """The miner's folder, with a .env that holds no token (mode 0640)."""
    d = tmp_path / "miner"
    d.mkdir()
    env = d / ".env"
    env.write_text(ENV_BEFORE, encoding="utf-8")
    env.chmod(0o640)
    log = d / "miner.log"
    log.touch()
    return Miner(d, env, log)


def settings_values(
    tmp_path: Path,
    database_url: str,
    miner: Miner,
    api_url: str,
    backends: list[dict[str, Any]],
    mode: str = "execute",
) -> dict[str, Any]:
    """grace.yaml for a ``grace serve`` supervising the miner and tailing its log."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir(exist_ok=True)
    # The bundled file itself, alone (other bundled playbooks are other tests' business).
    (playbooks / f"{PLAYBOOK}.yaml").write_bytes((LIBRARY / f"{PLAYBOOK}.yaml").read_bytes())
    return {
        "data_dir": str(tmp_path / ".grace"),
        "log_dir": str(tmp_path / "logs"),
        "database_url": database_url,
        "playbook_dirs": [str(playbooks)],
        "bundled_playbooks": False,
        "mode": mode,
        "listen": f"127.0.0.1:{free_port()}",
        "drain_s": 5,
        "api": {"auth": False},
        "governance": {"change_windows": {"enabled": False}},
        "services": [miner.service(api_url)],
        "sources": [
            {"type": "log", "path": str(miner.log), "service": "miner", "start_at": "beginning"}
        ],
        "config": {
            "github_token_missing": {"env_file": str(miner.env_file), "api_url": api_url},
            "secrets": {"backends": backends},
        },
    }


def miner_pid(data_dir: Path) -> int | None:
    state = read_state(data_dir, "miner")
    return state.pid if state is not None and state.status == "running" else None


def kill_miner(data_dir: Path) -> None:
    """Teardown: the supervised miner's process group, if it is still there."""
    state = read_state(data_dir, "miner")
    if state is not None and state.pid:
        with contextlib.suppress(OSError):
            os.killpg(state.pid, signal.SIGKILL)


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def store_text(store: Store) -> str:
    """Everything the store holds about runs, steps, tickets and the audit log, as text."""
    parts: list[Any] = []
    for run in store.list_runs(limit=10_000):
        parts.append(run)
        parts.extend(store.step_attempts(run.id))
    parts.extend(store.list_tickets(status=None, limit=10_000))
    parts.extend(store.audit_entries(limit=100_000))
    return json.dumps(parts, default=_plain)


def files_holding(root: Path, needle: str, *, allowed: set[Path]) -> list[Path]:
    """Files under ``root`` (outside ``allowed``) whose bytes contain ``needle``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path not in allowed and needle.encode() in path.read_bytes():
            found.append(path)
    return found
