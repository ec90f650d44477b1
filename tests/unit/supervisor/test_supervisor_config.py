"""The ``services:`` setting: typed, strict, errors naming services[i].field and the origin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grace.config import load_settings
from grace.errors import ConfigError
from grace.supervisor import HttpCheck, parse_services


def test_a_full_service_parses() -> None:
    """Every field, with the health check picked by its type."""
    [svc] = parse_services(
        [
            {
                "name": "web",
                "argv": ["python", "-m", "http.server"],
                "env": {"A": "1"},
                "health": [{"type": "http", "url": "http://127.0.0.1:8000/", "failures": 2}],
                "restart": "on-failure",
                "backoff": {"initial_s": 1, "max_s": 10},
                "start_limit": {"burst": 3, "window_s": 30},
                "stop_signal": "int",
            }
        ]
    )
    assert isinstance(svc.health[0], HttpCheck)
    assert svc.stop_signal == "SIGINT"
    assert svc.start_limit.burst == 3


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"name": "web", "argv": ["x"], "restrat": "always"}, "services[0].restrat"),
        ({"name": "web", "argv": []}, "services[0].argv"),
        ({"name": "Web!", "argv": ["x"]}, "services[0].name"),
        (
            {"name": "web", "argv": ["x"], "health": [{"type": "tcp"}]},
            "services[0].health.0.tcp.port",
        ),
        ({"name": "web", "argv": ["x"], "stop_signal": "SIGNOPE"}, "services[0].stop_signal"),
    ],
)
def test_errors_name_the_field(item: dict[str, object], where: str) -> None:
    """The message says which service and which field."""
    with pytest.raises(ConfigError, match=re.escape(f"grace.yaml:4: {where}")):
        parse_services([item], where="grace.yaml:4")


def test_duplicate_names_are_refused() -> None:
    """Names are identities (state files, audit subjects): unique."""
    with pytest.raises(ConfigError, match=r"services\[1\]\.name: 'a' is used twice"):
        parse_services([{"name": "a", "argv": ["x"]}, {"name": "a", "argv": ["y"]}])


def test_settings_accept_services_and_say_where(tmp_path: Path) -> None:
    """``services:`` in grace.yaml is a setting; its origin gives the line for messages."""
    path = tmp_path / "grace.yaml"
    path.write_text("mode: observe\nservices:\n  - {name: web, argv: [x]}\n", encoding="utf-8")
    settings, origins = load_settings(path, environ={})
    assert origins["services"] == f"{path}:2"
    assert parse_services(settings.services, where=origins["services"])[0].name == "web"
