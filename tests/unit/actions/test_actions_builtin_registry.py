"""The built-in actions as the registry sees them: names, flags, outputs and dry-run plans."""

from __future__ import annotations

from typing import Any

import pytest

import grace.actions.builtin as builtin
from grace.actions import ActionDefinition, default_registry, definition_of

FLAGS: dict[str, tuple[str, bool, bool, tuple[str, ...]]] = {
    # name: (risk, idempotent, destructive, outputs)
    "code.fix_mechanical": ("medium", True, True, ("fixed", "backups", "skipped")),
    "code.syntax_scan": (
        "low",
        True,
        False,
        ("files_scanned", "errors", "count", "mechanical_count", "other_count", "truncated"),
    ),
    "env.set": ("medium", True, False, ("path", "key", "backup_path")),
    "file.backup": ("low", True, False, ("backup_path",)),
    "file.restore": ("medium", True, True, ("restored_from", "backup_path")),
    "file.write": ("medium", True, True, ("path", "backup_path", "bytes")),
    "flag.set": ("low", True, False, ("file", "name", "enabled", "expires_at")),
    "http.check": ("low", True, False, ("status", "elapsed_ms", "matched")),
    "http.request": ("medium", False, False, ("status", "body", "json", "headers", "elapsed_ms")),
    "log": ("low", True, False, ()),
    "notify": ("low", False, False, ("delivered",)),
    "playbook.run": ("medium", False, False, ("run_id", "status")),
    "ports.prune": ("low", True, False, ("pruned", "stale", "conflicts", "monitor", "registered")),
    "ports.scan": ("low", True, False, ("listeners", "ports", "unknown_owner")),
    "shell": ("medium", False, False, ("exit_code", "stdout", "stderr", "truncated")),
    "sleep": ("low", True, False, ()),
    "ticket.open": ("low", False, False, ("ticket_id",)),
    "wait.until": ("low", True, False, ("waited_s", "probes")),
}


def _definition(name: str) -> ActionDefinition:
    return default_registry().get(name)


def _builtin_names() -> set[str]:
    return {
        d.name
        for module in builtin.modules()
        for n in getattr(module, "__all__", ())
        if (d := definition_of(getattr(module, n))) is not None
    }


def test_every_public_module_is_loaded() -> None:
    """Adding a module to grace.actions.builtin is all it takes: the registry loads it."""
    names = {m.__name__.rsplit(".", 1)[1] for m in builtin.modules()}

    assert {"shell", "http", "tickets", "ports"} <= names
    assert not any(n.startswith("_") for n in names)
    assert _builtin_names() <= set(default_registry().names())


def test_every_builtin_describes_itself() -> None:
    """Each built-in has a docstring and a dry-run sentence."""
    registry = default_registry()
    for name in _builtin_names():
        d = registry.get(name)
        assert d.describe is not None, f"{name} has no dry-run sentence"
        assert d.description, f"{name} has no docstring"


def test_builtin_flags() -> None:
    """Risk, idempotency, destructiveness and declared outputs are part of each declaration.

    Actions added later check their own flags in their module's tests; this table pins the
    original set.
    """
    registry = default_registry()

    assert set(FLAGS) <= _builtin_names()
    for name, (risk, idempotent, destructive, outputs) in FLAGS.items():
        d = registry.get(name)
        assert (d.risk, d.idempotent, d.destructive, d.outputs) == (
            risk,
            idempotent,
            destructive,
            outputs,
        ), name


PLANS: list[tuple[str, dict[str, Any], str]] = [
    (
        "shell",
        {"argv": ["systemctl", "restart", "x"], "cwd": "/srv", "env": {"A": "secret"}},
        "would run ['systemctl', 'restart', 'x'] in /srv (env: A)",
    ),
    ("shell", {"argv": ["true"]}, "would run ['true']"),
    (
        "shell",
        {"argv": ["psql"], "stdin": "select 1;", "expect_exit": [0, 2]},
        "would run ['psql'] (stdin: 9 bytes; expecting exit 0 or 2)",
    ),
    (
        "http.request",
        {
            "url": "https://user:pw@api.local:8443/v1/restart?token=abc",
            "method": "POST",
            "json": {"a": 1},
            "headers": {"Authorization": "Bearer x"},
            "expect_status": [200, 202],
        },
        "would send POST https://api.local:8443/v1/restart?… with a JSON body "
        "(headers: Authorization), expecting status 200 or 202",
    ),
    (
        "http.request",
        {"url": "http://h/x", "method": "PUT", "body": "abc"},
        "would send PUT http://h/x with a 3-byte body, expecting a status below 400",
    ),
    (
        "http.check",
        {"url": "http://127.0.0.1:8000/health", "body_regex": "ok"},
        "would GET http://127.0.0.1:8000/health and expect status 200 and a body matching 'ok'",
    ),
    (
        "wait.until",
        {"http": "http://h:1/ready"},
        "would wait up to 30s (checking every 0.5s) until http://h:1/ready answers 2xx",
    ),
    (
        "wait.until",
        {"tcp": "db:5432", "timeout_s": 10, "interval_s": 1},
        "would wait up to 10s (checking every 1s) until db:5432 accepts TCP connections",
    ),
    (
        "wait.until",
        {"file": "/run/app.pid"},
        "would wait up to 30s (checking every 0.5s) until /run/app.pid exists",
    ),
    (
        "wait.until",
        {"file_absent": "/run/app.lock"},
        "would wait up to 30s (checking every 0.5s) until /run/app.lock is gone",
    ),
    ("sleep", {"seconds": 2.5}, "would sleep 2.5s"),
    (
        "file.write",
        {"path": "/etc/app.conf", "content": "héllo", "mode": 0o600},
        "would write 6 bytes to /etc/app.conf atomically (mode 0o600); "
        "an existing file is backed up first",
    ),
    ("file.backup", {"path": "/etc/app.conf"}, "would copy /etc/app.conf into the backup store"),
    (
        "file.restore",
        {"path": "/etc/app.conf"},
        "would restore /etc/app.conf from its newest backup (the current file is backed up first)",
    ),
    (
        "file.restore",
        {"path": "/etc/app.conf", "backup": "20240501T120000.000000Z-3.bak"},
        "would restore /etc/app.conf from backup 20240501T120000.000000Z-3.bak "
        "(the current file is backed up first)",
    ),
    (
        "env.set",
        {"path": "/srv/.env", "key": "API_TOKEN", "value": "hunter2"},
        "would set API_TOKEN=*** in /srv/.env (mode 0600; the current file is backed up first)",
    ),
    (
        "notify",
        {
            "message": "disk full",
            "title": "db",
            "level": "error",
            "webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ",
        },
        "would log an error notification 'db: disk full' and POST it to https://hooks.slack.com/…",
    ),
    ("notify", {"message": "hi"}, "would log a warning notification 'hi'"),
    (
        "ticket.open",
        {"title": "db locked", "severity": "critical"},
        "would open a critical ticket 'db locked' for the run's service",
    ),
    (
        "ticket.open",
        {"title": "t", "service": "vectors"},
        "would open a warning ticket 't' for vectors",
    ),
    (
        "playbook.run",
        {"name": "restart_api", "vars": {"b": 1, "a": 2}},
        "would run playbook 'restart_api' with vars a, b and wait for it to finish",
    ),
    ("playbook.run", {"name": "x", "wait": False}, "would run playbook 'x' without waiting"),
    ("log", {"message": "hello", "level": "WARN"}, "would log at WARN: hello"),
    (
        "flag.set",
        {"file": "/srv/flags.json", "name": "search", "enabled": False, "ttl_min": 30},
        "would set flag 'search' to disabled in /srv/flags.json for 30 min",
    ),
    (
        "flag.set",
        {"file": "/srv/flags.json", "name": "search", "enabled": True},
        "would set flag 'search' to enabled in /srv/flags.json until changed",
    ),
]


@pytest.mark.parametrize(
    ("action", "data", "expected"), PLANS, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(PLANS)]
)
def test_dry_run_sentence(action: str, data: dict[str, Any], expected: str) -> None:
    """Each action says precisely what it would do, without revealing secrets."""
    definition = _definition(action)

    assert definition.plan(definition.params.model_validate(data)) == expected


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_schema_documents_every_parameter(name: str) -> None:
    """The JSON schema (source of the playbook schema) describes every parameter."""
    schema = _definition(name).params.model_json_schema()

    assert schema["additionalProperties"] is False
    undocumented = [k for k, v in schema["properties"].items() if not v.get("description")]
    assert undocumented == []
