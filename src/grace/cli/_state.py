"""What every command shares: settings built once from flags, env and grace.yaml."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grace.config import Settings, load_settings

if TYPE_CHECKING:
    from grace.engine import Engine

__all__ = ("State", "emit_json", "parse_vars")


@dataclass
class State:
    """Global options, resolved lazily so light commands stay light."""

    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None
    _origins: dict[str, str] | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings, self._origins = load_settings(self.config_file, self.overrides)
        return self._settings

    def origins(self) -> dict[str, str]:
        self.settings()
        assert self._origins is not None
        return self._origins

    def engine(self) -> Engine:
        """Open the engine (database, audit log, playbooks), with logging configured."""
        from grace.engine import Engine
        from grace.logs import configure_logging

        settings = self.settings()
        configure_logging(log_dir=settings.log_dir, level=settings.log_level, console=False)
        return Engine(settings)


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout (stable, documented fields)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_vars(pairs: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON (number, bool, list) is taken as that."""
    from grace.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"--var {pair!r} is not key=value"
            raise ConfigError(msg, hint="write it like --var service=api")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
