"""``webhook``: events pushed over HTTP, as generic JSON or as Prometheus Alertmanager payloads.

Webhooks are pushed, not pulled: the HTTP API (``grace.api``) receives them. This module holds
the pure mapping code the API calls, and the ``webhook`` source declaration whose config names
a generic webhook (served at ``POST /api/webhooks/{name}``) and its :class:`WebhookMapping`.

Mapping values are a dotted path into the JSON body (``alert.text``, ``alerts.0.labels``) or a
``{placeholder}`` template of dotted paths (``"{rule} on {host}"``). There is no Jinja and no
``eval``: a path only walks object keys and list indexes.

Alertmanager (webhook payload ``version: "4"``): a ``firing`` alert opens the episode
``alertmanager:<fingerprint>`` and becomes one event; a ``resolved`` alert closes its episode
and never becomes an event, so it can never trigger a remediation. The decision reads each
alert's ``status``, never ``endsAt`` (a firing alert carries ``0001-01-01T00:00:00Z`` there).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grace.errors import ConfigError
from grace.events import SEVERITIES, Event, EventKind, Severity, event_from_dict
from grace.sources._base import Emit, SourceConfig, SourceContext, source

__all__ = (
    "AlertSignal",
    "AlertmanagerAlert",
    "AlertmanagerPayload",
    "WebhookMapping",
    "WebhookSource",
    "WebhookSourceConfig",
    "alert_fingerprint",
    "alertmanager_signals",
    "map_generic",
    "normalize_severity",
    "webhook_event_key",
)

MAX_EVENT_KEY = 200
"""Longest ``event_key`` the store keeps; a longer mapped key is replaced by its digest."""

_SEVERITY_ALIASES: dict[str, Severity] = {
    "page": "critical",
    "crit": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "err": "error",
    "warn": "warning",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "none": "info",
}
_PATH = re.compile(r"[^.\s{}]+(?:\.[^.\s{}]+)*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_MISSING = object()


def normalize_severity(
    raw: object, *, severity_map: dict[str, Severity] | None = None, default: Severity = "error"
) -> Severity:
    """A Grace severity from a foreign one, case-insensitively.

    Order: ``severity_map``; a Grace severity name (debug, info, warning, error, critical); the
    built-in aliases (``page``, ``crit`` and ``fatal`` → critical, ``warn`` → warning, ``err`` →
    error, ``notice`` → info…); otherwise ``default`` (also for a missing value).
    """
    if raw is None or raw == "":
        return default
    text = _format(raw).strip().lower()
    for key, value in (severity_map or {}).items():
        if key.lower() == text:
            return value
    if text in SEVERITIES:
        return cast(Severity, text)
    return _SEVERITY_ALIASES.get(text, default)


# -- paths and templates ----------------------------------------------------------------------


def _lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (object keys, list indexes), or ``_MISSING``."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _format(value: Any) -> str:
    """Text for a template: strings as-is, JSON for anything else, empty for null/missing."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _check_spec(spec: str) -> str:
    """Validate a path-or-template; raises ValueError naming the fault."""
    if "{" not in spec and "}" not in spec:
        if not _PATH.fullmatch(spec):
            msg = f"{spec!r} is neither a dotted path (like alert.text) nor a {{placeholder}} template"
            raise ValueError(msg)
        return spec
    for token in _TOKEN.finditer(spec):
        text = token.group(0)
        if text in ("{{", "}}"):
            continue
        if text in ("{", "}"):
            msg = f"template {spec!r} has an unmatched {text!r} (write {text * 2} for a literal brace)"
            raise ValueError(msg)
        if not _PATH.fullmatch(token.group(1)):
            msg = f"template {spec!r}: {text!r} is not a dotted path (like {{alert.text}})"
            raise ValueError(msg)
    return spec


def _resolve(spec: str, body: Any) -> Any:
    """A path's raw value, or a template's text. ``_MISSING`` when a bare path finds nothing."""
    if "{" not in spec and "}" not in spec:
        return _lookup(body, spec)

    def replace(token: re.Match[str]) -> str:
        text = token.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        return _format(_lookup(body, token.group(1)))

    return _TOKEN.sub(replace, spec)


# -- generic JSON -----------------------------------------------------------------------------


class WebhookMapping(BaseModel):
    """How a generic JSON webhook body becomes an :class:`~grace.events.Event`.

    ``message``, ``service``, ``severity`` and ``event_key`` each take a dotted path
    (``alert.text``) or a ``{placeholder}`` template (``"{rule}: {alert.text}"``); a path that
    finds nothing gives an empty value, and so does a placeholder.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind = "webhook"
    """The event kind (a constant)."""
    message: str | None = None
    """Path or template for the message; unset: the whole body as compact JSON."""
    service: str | None = None
    """Path or template for the service; unset or empty: ``default_service``."""
    default_service: str = ""
    """The service when ``service`` is unset or finds nothing (a constant)."""
    severity: str | None = None
    """Path or template for the severity, translated by ``severity_map`` then the built-in names."""
    severity_map: dict[str, Severity] = Field(default_factory=dict)
    """Foreign severity → Grace severity (``{"P1": "critical", "P3": "warning"}``), case-insensitive."""
    default_severity: Severity = "error"
    """The severity when ``severity`` is unset, finds nothing, or is not recognised."""
    event_key: str | None = None
    """Path or template for the idempotency key; unset or empty: a digest of the whole body."""
    attributes: list[str] | dict[str, str] | None = None
    """Paths copied into the event's attributes (a list keeps each path as the name; a mapping
    renames: ``{"repo": "repository.full_name"}``); unset: the whole body under ``payload``."""

    @field_validator("message", "service", "severity", "event_key")
    @classmethod
    def _spec(cls, value: str | None) -> str | None:
        return None if value is None else _check_spec(value)

    @field_validator("attributes")
    @classmethod
    def _paths(cls, value: list[str] | dict[str, str] | None) -> list[str] | dict[str, str] | None:
        for path in value.values() if isinstance(value, dict) else value or []:
            if not _PATH.fullmatch(path):
                msg = f"attribute path {path!r} is not a dotted path (like alert.labels)"
                raise ValueError(msg)
        return value


def _body_digest(body: Any) -> str:
    canonical = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def webhook_event_key(body: Any, mapping: WebhookMapping) -> str:
    """The idempotency key of a generic webhook body: mapped, else a digest of the body.

    A mapped key longer than :data:`MAX_EVENT_KEY` characters is replaced by its digest, so an
    identical resend is still a duplicate.
    """
    key = _format(_resolve(mapping.event_key, body)) if mapping.event_key else ""
    if not key:
        return _body_digest(body)
    if len(key) > MAX_EVENT_KEY:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def map_generic(body: Any, mapping: WebhookMapping, *, name: str = "generic") -> Event:
    """The event a generic webhook body maps to, with source ``webhook:<name>``.

    Raises:
        ConfigError: the mapped values do not make a valid event (the message names the field).
    """
    message = _format(body if mapping.message is None else _resolve(mapping.message, body))
    service = _format(_resolve(mapping.service, body)) if mapping.service else ""
    raw_severity = _resolve(mapping.severity, body) if mapping.severity else None
    if mapping.attributes is None:
        attributes: dict[str, Any] = {"payload": body}
    else:
        pairs = (
            mapping.attributes.items()
            if isinstance(mapping.attributes, dict)
            else ((p, p) for p in mapping.attributes)
        )
        attributes = {
            key: value for key, path in pairs if (value := _lookup(body, path)) is not _MISSING
        }
    data = {
        "kind": mapping.kind,
        "source": f"webhook:{name}",
        "service": service or mapping.default_service,
        "severity": normalize_severity(
            None if raw_severity is _MISSING else raw_severity,
            severity_map=mapping.severity_map,
            default=mapping.default_severity,
        ),
        "message": message,
        "attributes": attributes,
    }
    return event_from_dict(data, where=f"webhook {name!r}")


# -- Prometheus Alertmanager ------------------------------------------------------------------

AlertStatus = Literal["firing", "resolved"]


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager webhook payload (unknown fields are kept, not refused)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    status: AlertStatus | None = None
    """``firing`` or ``resolved``; absent: the payload's status."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    """RFC 3339; with the fingerprint it identifies one firing of the alert."""
    ends_at: str = Field(default="", alias="endsAt")
    """Ignored: a firing alert carries ``0001-01-01T00:00:00Z`` here."""
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""
    """Alertmanager's hash of the labels; computed the same way when absent."""


class AlertmanagerPayload(BaseModel):
    """The body Alertmanager's ``webhook_config`` receiver POSTs (payload version 4)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: Literal["4"]
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert]


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """What one Alertmanager alert means for Grace."""

    event: Event | None
    """The event to submit for a firing alert; None for a resolved one (it triggers nothing)."""
    episode_key: str
    """``alertmanager:<fingerprint>``: opened when firing, resolved when resolved."""
    status: AlertStatus
    service: str
    event_key: str = ""
    """``<fingerprint>:<startsAt>``: Alertmanager's re-sends of one firing are duplicates."""


SERVICE_LABELS = ("service", "job", "app")
"""Labels read for the service, first non-empty wins."""


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "body"


def _parse_time(raw: str, where: str) -> datetime:
    """RFC 3339 with up to nine fractional digits (Go's format), as aware UTC."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", raw.strip()).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"{where} {raw!r} is not an RFC 3339 time"
        raise ConfigError(msg, hint="Alertmanager sends e.g. 2024-05-01T10:00:00.123Z") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211


def alert_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over the sorted labels).

    The same value Alertmanager sends as ``fingerprint``; used when a payload lacks it.
    """
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for byte in b"%s\xff%s\xff" % (name.encode(), labels[name].encode()):
            digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def alertmanager_signals(body: Any) -> list[AlertSignal]:
    """One :class:`AlertSignal` per alert of an Alertmanager v4 webhook payload.

    Raises:
        ConfigError: not a version-4 payload, or a field is malformed (the message names it).
    """
    if not isinstance(body, dict):
        msg = f"an Alertmanager payload is a JSON object, got {type(body).__name__}"
        raise ConfigError(msg)
    if body.get("version") != "4":
        msg = f"Alertmanager payload version {body.get('version')!r} is not supported: expected '4'"
        raise ConfigError(msg, hint='Alertmanager 0.x webhook_config sends version "4"')
    try:
        payload = AlertmanagerPayload.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = f"Alertmanager payload: {_where(tuple(err['loc']))}: {err['msg']}"
        raise ConfigError(msg, hint="see docs/webhooks.md for the expected shape") from exc
    signals = []
    for index, alert in enumerate(payload.alerts):
        status = alert.status or payload.status
        fingerprint = alert.fingerprint or alert_fingerprint(alert.labels)
        episode = f"alertmanager:{fingerprint}"
        service = next((alert.labels[k] for k in SERVICE_LABELS if alert.labels.get(k)), "")
        if status == "resolved":
            signals.append(AlertSignal(None, episode, status, service))
            continue
        where = f"alerts[{index}].startsAt"
        started = _parse_time(alert.starts_at, where) if alert.starts_at else None
        name = alert.labels.get("alertname", "alert")
        text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        data: dict[str, Any] = {
            "kind": "webhook",
            "source": "webhook:alertmanager",
            "service": service,
            "severity": normalize_severity(alert.labels.get("severity")),
            "message": f"{name}: {text}" if text else name,
            "attributes": {
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "fingerprint": fingerprint,
                "startsAt": alert.starts_at,
                "generatorURL": alert.generator_url,
                "status": status,
                "receiver": payload.receiver,
                "groupKey": payload.group_key,
                "episode": episode,
            },
        }
        if started is not None:
            # The event is this notification (now); when the alert began stays in startsAt.
            # Alertmanager re-sends a long-firing alert: its age is not staleness.
            data["attributes"]["startsAt"] = started.isoformat()
        event = event_from_dict(data, where=f"alerts[{index}]")
        key = f"{fingerprint}:{alert.starts_at}"
        signals.append(AlertSignal(event, episode, status, service, key))
    return signals


# -- the source declaration -------------------------------------------------------------------


class WebhookSourceConfig(SourceConfig):
    """A named generic webhook, served at ``POST /api/webhooks/{name}``.

    ``service`` (the source's own field) is the mapping's ``default_service`` unless that is set.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    """The URL segment: ``/api/webhooks/<name>``; events get source ``webhook:<name>``."""
    mapping: WebhookMapping = Field(default_factory=WebhookMapping)
    """How the body becomes an event."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "alertmanager":
            msg = "the name 'alertmanager' is reserved for Alertmanager's own payload route"
            raise ValueError(msg)
        return value

    def effective_mapping(self) -> WebhookMapping:
        """The mapping, with the source's ``service`` as its default service."""
        if self.mapping.default_service or not self.service:
            return self.mapping
        return self.mapping.model_copy(update={"default_service": self.service})


@source("webhook", config=WebhookSourceConfig)
class WebhookSource:
    """Receive JSON pushed to ``/api/webhooks/<name>`` and map it to events.

    Nothing is polled: the HTTP API receives the body and hands the mapped event to the
    pipeline. ``run`` only keeps the source alive for as long as the engine runs.
    """

    def __init__(self, config: WebhookSourceConfig, ctx: SourceContext) -> None:
        self.config = config
        self.ctx = ctx
        self.name = f"webhook:{config.name}"

    async def run(self, emit: Emit) -> None:
        """Wait until cancelled (webhooks are pushed to the API, not pulled)."""
        await anyio.sleep_forever()
