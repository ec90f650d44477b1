"""The ``boot:`` setting: the eight default stages, adjustments by name, extra stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.boot import BootConfig
from grace.config import load_settings
from grace.errors import ConfigError

EIGHT = [
    "preflight",
    "schema_sync",
    "core_services",
    "startup_playbooks",
    "codec_validation",
    "autonomy_load",
    "smoke_tests",
    "continuous_monitor",
]


def test_default_stages_are_the_seeds_eight() -> None:
    """In order; startup playbooks and the monitor are not critical, the rest are."""
    stages = BootConfig().resolved_stages()
    assert [s.name for s in stages] == EIGHT
    assert [s.kind for s in stages] == EIGHT
    assert [s.name for s in stages if not s.critical] == ["startup_playbooks", "continuous_monitor"]


def test_adjust_by_name_and_add_checks_stage() -> None:
    """A built-in name adjusts that stage in place; a new name is a checks stage before the monitor."""
    config = BootConfig.model_validate(
        {
            "stages": [
                {
                    "name": "smoke_tests",
                    "critical": False,
                    "commands": [{"name": "a", "argv": ["true"]}],
                },
                {"name": "vector_store", "http": [{"name": "h", "url": "http://127.0.0.1:1/x"}]},
                {"name": "core_services", "enabled": False},
            ]
        }
    )
    stages = config.resolved_stages()
    assert [s.name for s in stages] == [*EIGHT[:-1], "vector_store", "continuous_monitor"]
    by_name = {s.name: s for s in stages}
    assert by_name["smoke_tests"].critical is False
    assert by_name["smoke_tests"].commands[0].argv == ["true"]
    assert by_name["vector_store"].kind == "checks"
    assert by_name["vector_store"].critical is True
    assert by_name["core_services"].enabled is False


def test_bad_boot_setting_names_the_key(tmp_path: Path) -> None:
    """A typo under boot: is a ConfigError naming boot.<key> and the grace.yaml line."""
    path = tmp_path / "grace.yaml"
    path.write_text("mode: observe\nboot:\n  snapshott: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"boot\.snapshott.*grace\.yaml:2"):
        load_settings(path, environ={})


def test_duplicate_stage_refused() -> None:
    """Listing one stage twice is refused."""
    with pytest.raises(ValueError, match="listed twice"):
        BootConfig.model_validate({"stages": [{"name": "preflight"}, {"name": "preflight"}]})
