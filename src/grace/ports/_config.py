"""The ``ports:`` section of grace.yaml: the range to scan, how often, and declared ports."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grace._docstrings import DOCUMENTED

__all__ = ("PortsConfig", "parse_range")

_SERVICE = r"^[a-z0-9][a-z0-9_.-]*$"


def parse_range(text: str) -> tuple[int, int]:
    """``"8000-8010"`` (or a single ``"8000"``) as ``(8000, 8010)``.

    Raises:
        ValueError: not ``LOW-HIGH`` with 1 <= LOW <= HIGH <= 65535.
    """
    low_s, _, high_s = text.strip().partition("-")
    try:
        low = int(low_s)
        high = int(high_s) if high_s else low
    except ValueError:
        msg = f"port range {text!r} is not LOW-HIGH (e.g. 8000-8010)"
        raise ValueError(msg) from None
    if not 1 <= low <= high <= 65535:
        msg = f"port range {text!r} must satisfy 1 <= LOW <= HIGH <= 65535"
        raise ValueError(msg)
    return low, high


class PortsConfig(BaseModel):
    """The port inventory (docs/ports.md): which range is scanned and who owns what."""

    model_config = ConfigDict(**DOCUMENTED, extra="forbid", frozen=True)

    range: tuple[int, int] = (8000, 8010)
    """Ports scanned for listeners, both ends included (``"8000-8010"`` or ``[8000, 8010]``)."""
    scan_interval_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    """How often a scheduled scan (the ``port_inventory_cleanup`` playbook) should run."""
    grace_s: float = Field(default=300.0, ge=0, le=30 * 86400)
    """A registered port nobody has listened on for longer than this is stale."""
    services: dict[str, list[int]] = Field(default_factory=dict)
    """Declared ports: ``{service: [port, …]}``; each is registered with source ``declared``."""

    @model_validator(mode="before")
    @classmethod
    def _from_json(cls, value: Any) -> Any:
        # GRACE_PORTS arrives as a string: a JSON object.
        if isinstance(value, str):
            return json.loads(value)
        return value

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_range(value)
        return value

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 65535:
            msg = f"range {low}-{high} must satisfy 1 <= low <= high <= 65535"
            raise ValueError(msg)
        return value

    @field_validator("services")
    @classmethod
    def _declared(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        import re

        owners: dict[int, str] = {}
        for service, ports in value.items():
            if not re.fullmatch(_SERVICE, service):
                msg = f"service name {service!r} must match {_SERVICE}"
                raise ValueError(msg)
            for port in ports:
                if not 1 <= port <= 65535:
                    msg = f"port {port} of service {service!r} is not in 1-65535"
                    raise ValueError(msg)
                if owners.setdefault(port, service) != service:
                    msg = f"port {port} is declared by both {owners[port]!r} and {service!r}"
                    raise ValueError(msg)
        return value

    def declared(self) -> dict[int, str]:
        """Declared ports and their service."""
        return {port: service for service, ports in self.services.items() for port in ports}
