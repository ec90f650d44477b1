"""The bundled ``github_token_missing`` playbook against a real miner under a real ``grace serve``.

The miner (tests/fixtures/apps/miner) is a supervised process that reads GITHUB_TOKEN from its
``.env`` at start and calls a fake GitHub API (real HTTP on 127.0.0.1, GitHub's rate-limit
JSON and headers: 60/h anonymous, 5000/h with the right token). Its ``.env`` has no token, so
it really logs ``GITHUB_TOKEN is not set`` and ``GitHub rate limit low: 59/60 remaining (no
token)``. Grace's log source sees those lines and the playbook repairs the miner: the token,
found in one secrets backend, lands in the ``.env`` (mode 0600, other lines kept), the miner
runs again under a new pid, and its own requests now get 5000/h. The token appears nowhere
Grace writes (store, logs, audit, tickets, captured output).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from github_token_helpers import (
    ENV_BEFORE,
    PLAYBOOK,
    GitHubFake,
    eventually,
    files_holding,
    github_fake,
    kill_miner,
    make_miner,
    miner_pid,
    require,
    settings_values,
    store_text,
    vault_fake,
)

from grace.config import Settings
from grace.runs import Run, RunStatus
from grace.store import Store
from grace.testing import serving

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def token() -> str:
    """A fresh token per test, shaped like GitHub's personal access tokens."""
    return "ghp_" + secrets.token_hex(18)


@pytest.fixture
def api(tmp_path: Path, token: str) -> Iterator[GitHubFake]:
    with github_fake(tmp_path, token) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_stray_miner(tmp_path: Path) -> Iterator[None]:
    yield
    kill_miner(tmp_path / ".grace")


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _spawn_on(tty: int, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` with the terminal ``tty`` as its stdin, stdout and stderr."""
    return subprocess.Popen(
        argv, stdin=tty, stdout=tty, stderr=tty, start_new_session=True, env=env, cwd=cwd
    )


def _runs(store: Store) -> list[Run]:
    return [r for r in store.list_runs(limit=1000) if r.playbook == PLAYBOOK]


def _finished(store: Store) -> list[Run]:
    return [r for r in _runs(store) if r.finished_at is not None]


def _secret_backend(
    kind: str, tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch, stack: Any
) -> tuple[list[dict[str, Any]], set[Path]]:
    """Put ``token`` in a backend of ``kind`` the real way; return the chain and its files."""
    if kind == "env":
        monkeypatch.setenv("GRACE_SECRET_GITHUB_TOKEN", token)
        return [{"type": "env", "variable": "GRACE_SECRET_{key}"}], set()
    if kind == "file":
        secrets_dir = tmp_path / "run_secrets"
        secrets_dir.mkdir()
        (secrets_dir / "GITHUB_TOKEN").write_text(token + "\n", encoding="utf-8")
        chain = [{"type": "env", "variable": "GRACE_SECRET_{key}"}]
        return [*chain, {"type": "file", "path": str(secrets_dir)}], {secrets_dir / "GITHUB_TOKEN"}
    if kind == "vault":
        import httpx

        root = "hvs." + secrets.token_urlsafe(24)
        address = stack.enter_context(vault_fake(tmp_path, root))
        # What `vault kv put secret/grace/github token=…` sends.
        reply = httpx.post(
            f"{address}/v1/secret/data/grace/github",
            headers={"X-Vault-Token": root},
            json={"data": {"token": token}},
        )
        assert reply.status_code == 200, reply.text
        monkeypatch.setenv("VAULT_TOKEN", root)
        monkeypatch.setenv("VAULT_ADDR", address)
        return [{"type": "vault", "path": "grace/github", "field": "token"}], set()
    assert kind == "keyring"
    require("keyrings.alt")
    from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ring = PlaintextKeyring()
    ring.set_password("grace", "GITHUB_TOKEN", token)
    backend = "keyrings.alt.file.PlaintextKeyring"
    return [{"type": "keyring", "backend": backend}], {Path(ring.file_path)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["env", "file", "vault", "keyring"])
async def test_the_token_from_a_backend_repairs_the_miner(
    kind: str,
    tmp_path: Path,
    database_url: str,
    token: str,
    api: GitHubFake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Token absent from .env, present in one backend: the miner's warning starts the playbook,
    the .env gets the token (0600, other lines kept, the old file backed up), the miner runs
    under a new pid, the fake API counts its requests at 5000/h, and the token is nowhere else."""
    import contextlib

    miner = make_miner(tmp_path)
    with contextlib.ExitStack() as stack:
        chain, secret_files = _secret_backend(kind, tmp_path, token, monkeypatch, stack)
        values = settings_values(tmp_path, database_url, miner, api.url, chain)
        data_dir = Path(values["data_dir"])
        async with serving(Settings(**values)) as daemon:
            store = daemon.engine.store
            (run,) = await eventually(
                lambda: [r for r in _finished(store) if r.outputs.get("restart")],
                what="a run that restarted the miner",
            )
            assert run.status is RunStatus.SUCCEEDED, run.error
            assert run.service == "miner"
            # Repaired: the miner, started anew, makes its own requests with the token.
            restarted = run.outputs["restart"]
            new_pid, old_pid = restarted["pid"], restarted["previous_pid"]
            assert old_pid
            assert new_pid != old_pid
            assert miner_pid(data_dir) == new_pid
            with pytest.raises(ProcessLookupError):
                os.kill(old_pid, 0)
            await eventually(
                lambda: [
                    r
                    for r in api.requests()
                    if r["user_agent"] == "miner/1.0" and r["auth"] == "valid"
                ],
                what="the miner's requests with the token",
            )
            await eventually(
                lambda: (
                    f"(pid {new_pid})" in miner.log.read_text()
                    and "/5000 remaining (token)" in miner.log.read_text()
                ),
                what="the miner logging its 5000/h limit",
            )
            # Later warnings of the old process (if any) found the miner already restarted.
            for other in _finished(store):
                if other.id != run.id:
                    assert other.status is RunStatus.SUCCEEDED, other.error
                    assert other.outputs["loaded"]["started_after_file"] is True
                    assert "restart" not in other.outputs
            (report,) = [a for a in store.step_attempts(run.id) if a.step == "report"]
            text = store_text(store)
        message = report.params["message"]
        assert f"token from {run.outputs['provision']['reference']};" in message
        assert f"miner restarted (pid {old_pid} -> {new_pid}); GitHub grants 5000/h" in message
        assert miner.env_file.stat().st_mode & 0o777 == 0o600
        env = dotenv_values(miner.env_file)
        assert env == {"MINER_THREADS": "4", "GITHUB_ORG": "octocat", "GITHUB_TOKEN": token}
        provision = run.outputs["provision"]
        assert provision["found"] is True
        assert provision["backend"] == kind
        assert provision["reference"]
        assert token not in provision["reference"]
        assert _read(provision["backup_path"]) == ENV_BEFORE
        verify = run.outputs["verify"]
        assert (verify["limit"], verify["authenticated"]) == (5000, True)
        graces = [r for r in api.requests() if r["user_agent"] == "grace-github-rate-limit"]
        assert graces
        assert graces[-1]["auth"] == "valid"
        anonymous = [r for r in api.requests() if r["auth"] == "none"]
        assert anonymous, "the miner really ran without a token first"

        # Redacted everywhere: the store, every file Grace or the miner wrote, captured output.
        assert token not in text
        allowed = {miner.env_file, tmp_path / "github" / "valid_token", *secret_files}
        assert files_holding(tmp_path, token, allowed=allowed) == []
        out = capsys.readouterr()
        assert token not in out.out + out.err
        assert token not in caplog.text


@pytest.mark.slow
async def test_no_backend_has_it_a_work_order_and_the_env_is_untouched(
    tmp_path: Path, database_url: str, token: str, api: GitHubFake
) -> None:
    """Found nowhere (env var unset, empty secrets dir, .env without it): the run fails with
    every miss explained, a work order says how to add the token, .env is byte-identical and
    the miner keeps its pid."""
    miner = make_miner(tmp_path)
    (tmp_path / "run_secrets").mkdir()
    chain = [
        {"type": "env", "variable": "GRACE_SECRET_{key}"},
        {"type": "file", "path": str(tmp_path / "run_secrets")},
    ]
    values = settings_values(tmp_path, database_url, miner, api.url, chain)
    data_dir = Path(values["data_dir"])
    async with serving(Settings(**values)) as daemon:
        store = daemon.engine.store
        first_pid = await eventually(lambda: miner_pid(data_dir), what="the miner running")
        runs = await eventually(lambda: _finished(store), what="a finished run")
        tickets = await eventually(
            lambda: [t for t in store.list_tickets() if "GitHub token" in t.title],
            what="the work order",
        )
        assert miner_pid(data_dir) == first_pid
    # Failed, and its on_failure steps (the work order, the alert) ran: rolled_back.
    assert all(r.status is RunStatus.ROLLED_BACK for r in runs)
    assert "GITHUB_TOKEN is in no secrets backend" in (runs[0].error or "")
    body = tickets[0].body
    assert "$GRACE_SECRET_GITHUB_TOKEN is not set in Grace's environment" in body
    assert f"{tmp_path / 'run_secrets' / 'GITHUB_TOKEN'} does not exist" in body
    assert f"{miner.env_file} has no GITHUB_TOKEN= line" in body
    assert "grace execute github_token_missing --var service=miner" in body
    assert miner.env_file.read_text(encoding="utf-8") == ENV_BEFORE
    assert miner.env_file.stat().st_mode & 0o777 == 0o640
    assert not [r for r in api.requests() if r["auth"] == "valid"]


@pytest.mark.slow
async def test_a_revoked_token_is_written_but_the_work_order_says_github_refuses_it(
    tmp_path: Path, database_url: str, api: GitHubFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend holds a token GitHub refuses: it is written and the miner restarted (the
    .env had nothing better), but the verify step's 401 fails the run and the work order says
    to replace the token in the backend."""
    miner = make_miner(tmp_path)
    revoked = "ghp_" + secrets.token_hex(18)
    monkeypatch.setenv("GRACE_SECRET_GITHUB_TOKEN", revoked)
    chain = [{"type": "env", "variable": "GRACE_SECRET_{key}"}]
    values = settings_values(tmp_path, database_url, miner, api.url, chain)
    async with serving(Settings(**values)) as daemon:
        store = daemon.engine.store
        (run,) = await eventually(
            lambda: [r for r in _finished(store) if r.outputs.get("restart")],
            what="a run that restarted the miner",
        )
        tickets = await eventually(
            lambda: [t for t in store.list_tickets() if t.run_id == run.id],
            what="the work order",
        )
        await eventually(
            lambda: "GitHub rejected GITHUB_TOKEN (401 Bad credentials)" in miner.log.read_text(),
            what="the restarted miner's 401",
        )
        text = store_text(store)
    assert run.status is RunStatus.ROLLED_BACK
    assert "401 Bad credentials" in (run.error or "")
    body = tickets[0].body
    assert "GitHub does not grant it 5000/h" in body
    assert "Replace it in the secrets backend with a valid token" in body
    assert "env:GRACE_SECRET_GITHUB_TOKEN" in body
    assert dotenv_values(miner.env_file)["GITHUB_TOKEN"] == revoked
    assert revoked not in text


@pytest.mark.slow
async def test_an_unsupervised_service_gets_the_token_and_a_work_order_to_restart_it(
    tmp_path: Path, database_url: str, token: str, api: GitHubFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manual run for a service grace serve does not supervise: the token is written, and the
    work order says Grace cannot restart it (nothing else is started)."""
    from grace.engine import Engine

    miner = make_miner(tmp_path)
    monkeypatch.setenv("GRACE_SECRET_GITHUB_TOKEN", token)
    chain = [{"type": "env", "variable": "GRACE_SECRET_{key}"}]
    values = settings_values(tmp_path, database_url, miner, api.url, chain)
    engine = Engine(Settings(**{**values, "services": []}))
    try:
        run = await engine.execute(PLAYBOOK, vars={"service": "ghost", "prompt": False})
        (ticket,) = engine.store.list_tickets()
    finally:
        engine.close()
    assert run.status is RunStatus.ROLLED_BACK
    assert dotenv_values(miner.env_file)["GITHUB_TOKEN"] == token
    assert (
        "but Grace cannot restart the service (UnknownService: 'ghost' has no state" in ticket.body
    )
    assert token not in ticket.body


@pytest.mark.slow
async def test_observe_mode_proposes_and_changes_nothing(
    tmp_path: Path,
    database_url: str,
    token: str,
    api: GitHubFake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In observe mode the warning yields a proposed run: nothing is written or restarted."""
    miner = make_miner(tmp_path)
    monkeypatch.setenv("GRACE_SECRET_GITHUB_TOKEN", token)
    chain = [{"type": "env", "variable": "GRACE_SECRET_{key}"}]
    values = settings_values(tmp_path, database_url, miner, api.url, chain, mode="observe")
    data_dir = Path(values["data_dir"])
    async with serving(Settings(**values)) as daemon:
        store = daemon.engine.store
        first_pid = await eventually(lambda: miner_pid(data_dir), what="the miner running")
        proposed = await eventually(
            lambda: [r for r in _runs(store) if r.status is RunStatus.PROPOSED],
            what="a proposed run",
        )
        assert proposed[0].service == "miner"
        assert store.step_attempts(proposed[0].id) == []
        assert miner_pid(data_dir) == first_pid
    assert miner.env_file.read_text(encoding="utf-8") == ENV_BEFORE
    assert not [r for r in api.requests() if r["auth"] == "valid"]


@pytest.mark.slow
async def test_grace_execute_in_a_terminal_asks_the_operator(
    tmp_path: Path, database_url: str, token: str, api: GitHubFake
) -> None:
    """No backend has it: ``grace execute`` run in a terminal (a real pty) asks with a hidden
    prompt; the typed token lands in .env, the miner restarts and gets 5000/h; the terminal
    never shows the token."""
    import pty

    miner = make_miner(tmp_path)
    chain = [{"type": "env", "variable": "GRACE_SECRET_{key}"}]
    # The daemon only proposes (observe): the operator's own run does the repair.
    values = settings_values(tmp_path, database_url, miner, api.url, chain, mode="observe")
    config = tmp_path / "grace.yaml"
    config.write_text(json.dumps({**values, "mode": "execute"}), encoding="utf-8")
    data_dir = Path(values["data_dir"])
    async with serving(Settings(**values)) as daemon:
        first_pid = await eventually(lambda: miner_pid(data_dir), what="the miner running")
        await eventually(
            lambda: daemon.engine.store.last_beats().get("grace.supervisor"),
            what="the supervisor's heartbeat",
        )
        master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
        env["GRACE_CONFIG"] = str(config)
        # A new session whose controlling terminal is the pty, as in a login shell.
        argv = [
            sys.executable,
            "-c",
            "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
            "os.execv(sys.executable, [sys.executable, '-m', 'grace', *sys.argv[1:]])",
            "execute",
            PLAYBOOK,
            "--var",
            "service=miner",
        ]
        proc = _spawn_on(slave, argv, env, tmp_path)
        os.close(slave)
        screen = b""
        typed = False
        try:

            def read_screen() -> bool:
                nonlocal screen, typed
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    return True
                screen += chunk
                if not typed and b"Paste GITHUB_TOKEN" in screen:
                    os.write(master, token.encode() + b"\n")
                    typed = True
                return not chunk

            await eventually(read_screen, within=90, what="grace execute to finish")
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            os.close(master)
        shown = screen.decode(errors="replace")
        assert typed, shown
        assert code == 0, shown
        assert token not in shown
        new_pid = await eventually(
            lambda: (p := miner_pid(data_dir)) != first_pid and p, what="the new miner"
        )
        await eventually(
            lambda: "/5000 remaining (token)" in miner.log.read_text(),
            what="the miner logging its 5000/h limit",
        )
        assert new_pid != first_pid
        text = store_text(daemon.engine.store)
    assert dotenv_values(miner.env_file)["GITHUB_TOKEN"] == token
    assert miner.env_file.stat().st_mode & 0o777 == 0o600
    assert '"reference": "prompt:operator"' in text
    assert token not in text
    allowed = {miner.env_file, tmp_path / "github" / "valid_token"}
    assert files_holding(tmp_path, token, allowed=allowed) == []


@pytest.mark.parametrize(
    ("line", "fires"),
    [
        ("2026-11-22 08:40:00,123 WARNING: GITHUB_TOKEN is not set; calling without a token", True),
        (
            "2026-11-22 08:40:00,456 WARNING: GitHub rate limit low: 59/60 remaining (no token)",
            True,
        ),
        ("WARNING: GitHub API rate limit exceeded: API rate limit exceeded for 127.0.0.1.", True),
        (
            "ERROR github: 403 API rate limit exceeded for 2001:db8::1. (But here's the good news…)",
            True,
        ),
        # A token is in use: restarting with the same token would not help.
        ("WARNING: GitHub rate limit low: 12/5000 remaining (token)", False),
        ("WARNING: 403 API rate limit exceeded for user ID 1234567.", False),
        ("INFO: GitHub rate limit 4999/5000 remaining (token)", False),
        # Below the trigger's severity.
        ("INFO: GITHUB_TOKEN is not set (tests only)", False),
    ],
)
def test_the_trigger_fires_on_missing_token_lines_only(line: str, fires: bool) -> None:
    """The bundled trigger, through the real matcher, fires on a missing token's symptoms and
    not on a token's own limits; a line's numbers never split one incident in two."""
    from github_token_helpers import LIBRARY

    from grace.actions import default_registry
    from grace.matching import Matcher, triggers_of
    from grace.playbooks import load_paths
    from grace.sources.builtin._lines import detect_severity  # what the log source does
    from grace.testing import make_event

    playbooks, errors = load_paths([LIBRARY / f"{PLAYBOOK}.yaml"], registry=default_registry())
    assert errors == []
    matcher = Matcher(triggers_of(playbooks[PLAYBOOK]))
    event = make_event(line, service="miner", severity=detect_severity(line))
    matches = matcher.match(event)
    assert bool(matches) is fires
    for match in matches:
        assert match.captures == {}
