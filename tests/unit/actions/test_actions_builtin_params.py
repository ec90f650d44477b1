"""Parameter bounds of every built-in action, pinned by golden messages.

The parameter model is the bounds check: the runner validates ``with:`` against it before
anything runs, so each message must say what is wrong and how to write it instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from grace.actions import default_registry
from grace.actions.builtin.dotenv import EnvSetParams
from grace.actions.builtin.files import FileWriteParams


def _problems(action: str, data: dict[str, Any]) -> str:
    """Validate ``data`` for ``action``; return its problems as 'loc: msg' lines."""
    model = default_registry().get(action).params
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return "\n".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'with'}: {e['msg']}" for e in info.value.errors()
    )


GOLDEN: list[tuple[str, dict[str, Any], str]] = [
    # shell
    (
        "shell",
        {"argv": "systemctl restart api"},
        "argv: Value error, argv must be a list of arguments, not one string: Grace never runs a "
        "shell, so write ['systemctl', 'restart', 'api'] (for shell syntax on purpose, "
        "['sh', '-c', 'script'])",
    ),
    ("shell", {"argv": []}, "argv: List should have at least 1 item after validation, not 0"),
    (
        "shell",
        {"argv": [""]},
        "argv: Value error, argv[0] is empty: it must name the program to run, like 'systemctl'",
    ),
    (
        "shell",
        {"argv": ["echo", "a\x00b"]},
        "argv.1: Value error, contains a NUL byte (\\x00), which no argument, path or environment "
        "value may hold",
    ),
    (
        "shell",
        {"argv": ["env"], "env": {"1BAD": "x"}},
        "env.1BAD.[key]: Value error, '1BAD' is not an environment variable name: use letters, "
        "digits and '_', not starting with a digit (like 'API_TOKEN')",
    ),
    (
        "shell",
        {"argv": ["true"], "max_output_bytes": 0},
        "max_output_bytes: Input should be greater than or equal to 1",
    ),
    (
        "shell",
        {"argv": ["true"], "max_output_bytes": 10_000_001},
        "max_output_bytes: Input should be less than or equal to 10000000",
    ),
    (
        "shell",
        {"argv": ["true"], "expect_exit": []},
        "expect_exit: List should have at least 1 item after validation, not 0",
    ),
    ("shell", {"argv": ["true"], "shell": True}, "shell: Extra inputs are not permitted"),
    # http.request
    (
        "http.request",
        {"url": "ftp://example.com/x"},
        "url: Value error, url 'ftp://example.com/x' must start with http:// or https:// "
        "(scheme is 'ftp')",
    ),
    (
        "http.request",
        {"url": "localhost:8000/health"},
        "url: Value error, url 'localhost:8000/health' must start with http:// or https:// "
        "(scheme is 'localhost')",
    ),
    (
        "http.request",
        {"url": "http:///health"},
        "url: Value error, url 'http:///health' has no host; write it like 'http://127.0.0.1:8000/health'",
    ),
    (
        "http.request",
        {"url": "http://h:99999/"},
        "url: Value error, url 'http://h:99999/' has an invalid port; use a number from 1 to 65535",
    ),
    (
        "http.request",
        {"url": "http://h/", "method": "get"},
        "method: Input should be 'GET', 'POST', 'PUT', 'PATCH', 'DELETE' or 'HEAD'",
    ),
    (
        "http.request",
        {"url": "http://h/", "timeout_s": 0},
        "timeout_s: Input should be greater than 0",
    ),
    (
        "http.request",
        {"url": "http://h/", "timeout_s": 301},
        "timeout_s: Input should be less than or equal to 300",
    ),
    (
        "http.request",
        {"url": "http://h/", "timeout_s": True},
        "timeout_s: Value error, must be a number of seconds, not a boolean",
    ),
    (
        "http.request",
        {"url": "http://h/", "json": {"a": 1}, "body": "x"},
        "with: Value error, give either json (a structure sent as JSON) or body (raw text), "
        "not both",
    ),
    (
        "http.request",
        {"url": "http://h/", "expect_status": [200, 600]},
        "expect_status.1: Input should be less than or equal to 599",
    ),
    # http.check
    (
        "http.check",
        {"url": "http://h/", "body_regex": "ok("},
        "body_regex: Value error, body_regex 'ok(' is not a valid regular expression: missing ), "
        "unterminated subpattern at position 2",
    ),
    (
        "http.check",
        {"url": "http://h/", "expect_status": 99},
        "expect_status: Input should be greater than or equal to 100",
    ),
    (
        "http.check",
        {"url": "http://h/", "expect_status": 600},
        "expect_status: Input should be less than or equal to 599",
    ),
    # wait.until
    (
        "wait.until",
        {},
        "with: Value error, give exactly one of http, tcp, file, file_absent (got none)",
    ),
    (
        "wait.until",
        {"tcp": "db:5432", "file": "/tmp/x"},
        "with: Value error, give exactly one of http, tcp, file, file_absent (got tcp, file)",
    ),
    (
        "wait.until",
        {"tcp": "db"},
        "tcp: Value error, tcp 'db' must be 'host:port', like '127.0.0.1:5432' or '[::1]:6379'",
    ),
    ("wait.until", {"tcp": "db:70000"}, "tcp: Value error, tcp port 70000 is outside 1..65535"),
    (
        "wait.until",
        {"file": "/x", "expect_status": 200},
        "with: Value error, expect_status only applies to http",
    ),
    (
        "wait.until",
        {"file": "/x", "interval_s": 0.01},
        "interval_s: Input should be greater than or equal to 0.05",
    ),
    (
        "wait.until",
        {"file": "/x", "interval_s": 61},
        "interval_s: Input should be less than or equal to 60",
    ),
    (
        "wait.until",
        {"file": "/x", "timeout_s": 0.05},
        "timeout_s: Input should be greater than or equal to 0.1",
    ),
    (
        "wait.until",
        {"file": "/x", "timeout_s": 3601},
        "timeout_s: Input should be less than or equal to 3600",
    ),
    # sleep
    ("sleep", {"seconds": -1}, "seconds: Input should be greater than or equal to 0"),
    ("sleep", {"seconds": 3601}, "seconds: Input should be less than or equal to 3600"),
    ("sleep", {}, "seconds: Field required"),
    # file.write
    (
        "file.write",
        {"path": "/etc/x", "content": "", "mode": 644},
        "mode: Value error, mode 644 is not between 0 and 0o777 (511); YAML reads 0644 as the "
        "decimal 644, so write 0o644 or quote it as '0644'",
    ),
    (
        "file.write",
        {"path": "/etc/x", "content": "", "mode": "rw-r--r--"},
        "mode: Value error, mode 'rw-r--r--' is not an octal number; write it like '0644' or 0o644",
    ),
    ("file.write", {"path": "", "content": ""}, "path: String should have at least 1 character"),
    ("file.write", {"path": "/x"}, "content: Field required"),
    # file.backup / file.restore
    ("file.backup", {}, "path: Field required"),
    (
        "file.restore",
        {"path": "/x", "backup": ""},
        "backup: String should have at least 1 character",
    ),
    # env.set
    (
        "env.set",
        {"key": "API-TOKEN", "value": "x"},
        "key: Value error, 'API-TOKEN' is not an environment variable name: use letters, digits "
        "and '_', not starting with a digit (like 'API_TOKEN')",
    ),
    ("env.set", {"key": "K"}, "value: Field required"),
    ("env.set", {"key": "K", "value": ["x"]}, "value: Input should be a valid string"),
    # notify
    ("notify", {"message": ""}, "message: String should have at least 1 character"),
    ("notify", {"message": "x" * 4001}, "message: String should have at most 4000 characters"),
    (
        "notify",
        {"message": "m", "level": "fatal"},
        "level: Input should be 'info', 'warning', 'error' or 'critical'",
    ),
    (
        "notify",
        {"message": "m", "webhook_url": "hooks.example.com/x"},
        "webhook_url: Value error, url 'hooks.example.com/x' must start with http:// or https:// "
        "(scheme is none)",
    ),
    # ticket.open
    ("ticket.open", {"title": ""}, "title: String should have at least 1 character"),
    ("ticket.open", {"title": "x" * 501}, "title: String should have at most 500 characters"),
    (
        "ticket.open",
        {"title": "t", "severity": "high"},
        "severity: Input should be 'info', 'warning', 'error' or 'critical'",
    ),
    # playbook.run
    ("playbook.run", {"name": "Restart-API"}, "name: String should match pattern '^[a-z0-9_]+$'"),
    # log
    (
        "log",
        {"message": "m", "level": "WARNING"},
        "level: Input should be 'DEBUG', 'INFO', 'WARN' or 'ERROR'",
    ),
    ("log", {"message": ""}, "message: String should have at least 1 character"),
    # flag.set
    (
        "flag.set",
        {"file": "/f.json", "name": "Search", "enabled": False},
        "name: String should match pattern '^[a-z_]+$'",
    ),
    (
        "flag.set",
        {"file": "/f.json", "name": "s", "enabled": False, "ttl_min": 0},
        "ttl_min: Input should be greater than or equal to 1",
    ),
    (
        "flag.set",
        {"file": "/f.json", "name": "s", "enabled": False, "ttl_min": 121},
        "ttl_min: Input should be less than or equal to 120",
    ),
    ("flag.set", {"file": "/f.json", "name": "s"}, "enabled: Field required"),
]


@pytest.mark.parametrize(
    ("action", "data", "expected"), GOLDEN, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(GOLDEN)]
)
def test_bad_parameters_fail_with_golden_message(
    action: str, data: dict[str, Any], expected: str
) -> None:
    """Each out-of-bounds parameter fails validation with exactly this message."""
    assert _problems(action, data) == expected


VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "shell",
        {"argv": ["systemctl", "restart", "api"], "env": {"A_1": "x"}, "expect_exit": [0, -15]},
    ),
    ("shell", {"argv": ["true"], "max_output_bytes": 1}),
    ("shell", {"argv": ["true"], "max_output_bytes": 10_000_000}),
    ("http.request", {"url": "https://[::1]:8443/x?y=1", "method": "DELETE", "timeout_s": 300}),
    ("http.check", {"url": "http://127.0.0.1/health", "expect_status": 599, "body_regex": "ok|up"}),
    ("wait.until", {"tcp": "[::1]:6379", "interval_s": 0.05, "timeout_s": 0.1}),
    (
        "wait.until",
        {"http": "http://h/", "expect_status": 204, "interval_s": 60, "timeout_s": 3600},
    ),
    ("sleep", {"seconds": 0}),
    ("sleep", {"seconds": 3600}),
    ("file.write", {"path": "/x", "content": "", "mode": "0600"}),
    ("file.write", {"path": "/x", "content": "", "mode": 0o777}),
    ("file.restore", {"path": "/x"}),
    ("env.set", {"key": "_K9", "value": 8080}),
    ("notify", {"message": "x" * 4000, "level": "critical"}),
    ("ticket.open", {"title": "x" * 500, "context": {"pids": [1, 2]}}),
    ("playbook.run", {"name": "restart_api_2", "vars": {"n": 1}, "wait": False}),
    ("log", {"message": "m", "level": "WARN"}),
    ("flag.set", {"file": "/f.json", "name": "search", "enabled": True, "ttl_min": 120}),
]


@pytest.mark.parametrize(
    ("action", "data"), VALID, ids=[f"{a}-{i}" for i, (a, _) in enumerate(VALID)]
)
def test_parameters_at_the_bounds_are_accepted(action: str, data: dict[str, Any]) -> None:
    """Values at the edges of every range validate."""
    default_registry().get(action).params.model_validate(data)


def test_string_modes_are_read_as_octal() -> None:
    """'0644', '0o644' and '644' all mean 0o644."""
    modes = {
        FileWriteParams.model_validate({"path": "/x", "content": "", "mode": m}).mode
        for m in ("0644", "0o644", "644")
    }

    assert modes == {0o644}


def test_env_value_scalars_become_text() -> None:
    """YAML numbers and booleans given to env.set become their dotenv text."""
    given: list[object] = [8080, 1.5, True]

    values = [
        EnvSetParams.model_validate({"key": "K", "value": v}).value.get_secret_value()
        for v in given
    ]

    assert values == ["8080", "1.5", "true"]


def test_rejected_secret_is_not_echoed() -> None:
    """A validation error on env.set's value does not print the offending input."""
    model = default_registry().get("env.set").params

    with pytest.raises(ValidationError) as info:
        model.model_validate({"key": "K", "value": ["hunter2"]})

    assert "hunter2" not in str(info.value)
