"""The generic webhook mapping: dotted paths, ``{placeholder}`` templates, severity, keys."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from grace.errors import ConfigError
from grace.sources import SourceContext, default_source_registry, definition_of_source
from grace.sources.builtin.webhook import (
    MAX_EVENT_KEY,
    WebhookMapping,
    WebhookSource,
    WebhookSourceConfig,
    map_generic,
    normalize_severity,
    webhook_event_key,
)
from grace.testing import FakeClock, SequentialIds

BODY: dict[str, Any] = {
    "alert": {"text": "disk full", "level": "P2", "tags": ["db", "prod"], "count": 3},
    "host": "db1",
    "ok": False,
    "empty": None,
    "items": [{"name": "first"}, {"name": "second"}],
}


class TestPathsAndTemplates:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("alert.text", "disk full"),
            ("items.1.name", "second"),
            ("alert.count", "3"),
            ("alert.tags", '["db","prod"]'),
            ("ok", "false"),
            ("empty", ""),
            ("alert.nothing", ""),
            ("items.9.name", ""),
            ("host.deeper", ""),
            ("{alert.text} on {host}", "disk full on db1"),
            ("{alert.text} ({alert.count}x)", "disk full (3x)"),
            ("{missing} on {host}", " on db1"),
            ("{{literal}} {host}", "{literal} db1"),
            ("tags: {alert.tags}", 'tags: ["db","prod"]'),
        ],
    )
    def test_message_specs(self, spec: str, message: str) -> None:
        """Paths walk keys and list indexes; templates fill placeholders; missing is empty."""
        event = map_generic(BODY, WebhookMapping(message=spec))
        assert event.message == message

    @pytest.mark.parametrize(
        ("spec", "fault"),
        [
            (
                "{unclosed",
                "template '{unclosed' has an unmatched '{' (write {{ for a literal brace)",
            ),
            ("closed}", "template 'closed}' has an unmatched '}' (write }} for a literal brace)"),
            ("{a b}", "template '{a b}': '{a b}' is not a dotted path (like {alert.text})"),
            ("{}", "template '{}': '{}' is not a dotted path (like {alert.text})"),
            (
                "a..b",
                "'a..b' is neither a dotted path (like alert.text) nor a {placeholder} template",
            ),
            ("two words", "'two words' is neither a dotted path"),
        ],
    )
    def test_bad_specs_are_refused_when_the_mapping_is_built(self, spec: str, fault: str) -> None:
        """A malformed path or template fails at configuration time, naming it."""
        with pytest.raises(ValidationError, match="message") as caught:
            WebhookMapping(message=spec)
        assert fault in str(caught.value)

    def test_no_code_runs_in_a_template(self) -> None:
        """Placeholders are looked up as keys only: attribute and call syntax find nothing."""
        event = map_generic(
            {"a": {"__class__": "k"}}, WebhookMapping(message="{a.__class__}|{a.keys}|{a.__len__}")
        )
        assert event.message == "k||"

    def test_default_message_is_the_compact_body(self) -> None:
        """Without ``message`` the body itself, as sorted compact JSON, is the message."""
        assert map_generic({"b": 1, "a": "é"}, WebhookMapping()).message == '{"a":"é","b":1}'


class TestFields:
    def test_service_from_a_path_with_a_default(self) -> None:
        """``service`` is mapped; when it finds nothing, ``default_service`` is used."""
        mapping = WebhookMapping(service="host", default_service="fallback")
        assert map_generic(BODY, mapping).service == "db1"
        assert map_generic({}, mapping).service == "fallback"

    def test_source_kind_and_attributes_defaults(self) -> None:
        """Source is ``webhook:<name>``, kind ``webhook``, the whole body under ``payload``."""
        event = map_generic(BODY, WebhookMapping(), name="ops")
        assert event.source == "webhook:ops"
        assert event.kind == "webhook"
        assert event.attributes == {"payload": BODY}

    def test_kind_is_a_constant(self) -> None:
        """``kind`` may be any event kind."""
        assert map_generic(BODY, WebhookMapping(kind="health")).kind == "health"

    def test_attributes_as_a_list_keep_the_paths(self) -> None:
        """Listed paths are copied under their own names; missing ones are left out."""
        event = map_generic(BODY, WebhookMapping(attributes=["host", "alert.tags", "nope"]))
        assert event.attributes == {"host": "db1", "alert.tags": ["db", "prod"]}

    def test_attributes_as_a_mapping_rename(self) -> None:
        """A mapping of name → path renames, keeping the JSON value (not its text)."""
        event = map_generic(
            BODY, WebhookMapping(attributes={"n": "alert.count", "first": "items.0"})
        )
        assert event.attributes == {"n": 3, "first": {"name": "first"}}

    def test_a_bad_attribute_path_is_refused(self) -> None:
        """Attribute paths are validated like the others."""
        with pytest.raises(ValidationError, match="attribute path 'a b' is not a dotted path"):
            WebhookMapping(attributes=["a b"])

    def test_unknown_mapping_keys_are_refused(self) -> None:
        """A typo in a mapping key is an error, not a silently ignored setting."""
        with pytest.raises(ValidationError, match="severty"):
            WebhookMapping.model_validate({"severty": "level"})


class TestSeverity:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("critical", "critical"),
            ("ERROR", "error"),
            (" Warning ", "warning"),
            ("info", "info"),
            ("debug", "debug"),
            ("page", "critical"),
            ("crit", "critical"),
            ("fatal", "critical"),
            ("warn", "warning"),
            ("err", "error"),
            ("notice", "info"),
            ("none", "info"),
            ("bogus", "error"),
            (None, "error"),
            ("", "error"),
            (5, "error"),
        ],
    )
    def test_built_in_names_and_aliases(self, raw: object, expected: str) -> None:
        """Grace names pass through, aliases translate, anything else is the default."""
        assert normalize_severity(raw) == expected

    def test_the_map_wins_and_ignores_case(self) -> None:
        """``severity_map`` is consulted first, case-insensitively."""
        assert normalize_severity("p1", severity_map={"P1": "critical"}) == "critical"
        assert normalize_severity("critical", severity_map={"critical": "info"}) == "info"

    def test_mapped_severity_with_default(self) -> None:
        """Through a mapping: path, map, then ``default_severity`` for the unrecognised."""
        mapping = WebhookMapping(
            severity="alert.level", severity_map={"P2": "warning"}, default_severity="info"
        )
        assert map_generic(BODY, mapping).severity == "warning"
        assert map_generic({"alert": {"level": "P9"}}, mapping).severity == "info"
        assert map_generic({}, mapping).severity == "info"


class TestEventKey:
    def test_a_mapped_key(self) -> None:
        """``event_key`` takes a path or a template."""
        assert webhook_event_key(BODY, WebhookMapping(event_key="host")) == "db1"
        assert webhook_event_key(BODY, WebhookMapping(event_key="{host}:{alert.count}")) == "db1:3"

    def test_the_default_key_is_a_digest_independent_of_key_order(self) -> None:
        """Without ``event_key`` (or when it finds nothing) the key is the body's digest."""
        one = webhook_event_key({"a": 1, "b": [1, 2]}, WebhookMapping())
        two = webhook_event_key({"b": [1, 2], "a": 1}, WebhookMapping(event_key="missing"))
        other = webhook_event_key({"a": 2, "b": [1, 2]}, WebhookMapping())
        assert one == two
        assert one != other
        assert one.startswith("sha256:")
        assert len(one) == 71

    def test_an_overlong_key_is_digested(self) -> None:
        """A mapped key longer than the store's column becomes its (stable) digest."""
        body = {"id": "x" * (MAX_EVENT_KEY + 1)}
        key = webhook_event_key(body, WebhookMapping(event_key="id"))
        assert key.startswith("sha256:")
        assert key == webhook_event_key(body, WebhookMapping(event_key="id"))
        exact = {"id": "x" * MAX_EVENT_KEY}
        assert webhook_event_key(exact, WebhookMapping(event_key="id")) == exact["id"]


class TestSourceDeclaration:
    def test_the_source_is_registered_as_webhook(self) -> None:
        """The built-in registry knows ``webhook`` and validates its config."""
        registry = default_source_registry()
        assert "webhook" in registry.names()
        config = registry.parse(
            {"type": "webhook", "name": "github", "mapping": {"message": "{action}"}},
            where="grace.yaml: sources[0]",
        )
        assert isinstance(config, WebhookSourceConfig)
        assert config.mapping.message == "{action}"

    def test_config_faults_name_the_field(self) -> None:
        """A bad mapping in grace.yaml names the source and the field."""
        with pytest.raises(
            ConfigError, match=r"sources\[1\]: source 'webhook' field 'mapping.kind'"
        ):
            default_source_registry().parse(
                {"type": "webhook", "name": "gh", "mapping": {"kind": "alarm"}},
                where="sources[1]",
            )

    def test_a_name_is_required(self) -> None:
        """The name is the URL segment, so it cannot be left out."""
        with pytest.raises(ValidationError, match="name"):
            WebhookSourceConfig.model_validate({"type": "webhook"})

    def test_the_source_service_is_the_default_service(self) -> None:
        """The source's ``service`` fills the mapping's ``default_service`` unless that is set."""
        plain = WebhookSourceConfig(type="webhook", name="gh", service="ci")
        assert plain.effective_mapping().default_service == "ci"
        explicit = WebhookSourceConfig(
            type="webhook", name="gh", service="ci", mapping=WebhookMapping(default_service="x")
        )
        assert explicit.effective_mapping().default_service == "x"
        assert (
            WebhookSourceConfig(type="webhook", name="gh").effective_mapping() == WebhookMapping()
        )

    @pytest.mark.anyio
    async def test_run_waits_without_emitting(self, tmp_path: Any) -> None:
        """Webhooks are pushed: ``run`` emits nothing and waits until cancelled."""
        defn = definition_of_source(WebhookSource)
        assert defn is not None
        assert defn.type_name == "webhook"
        ctx = SourceContext(
            clock=FakeClock(),
            ids=SequentialIds(),
            state=None,  # type: ignore[arg-type]
            data_dir=tmp_path,
        )
        source = WebhookSource(WebhookSourceConfig(type="webhook", name="gh"), ctx)
        assert source.name == "webhook:gh"
        emitted: list[object] = []

        async def emit(event: object, key: str | None) -> None:
            emitted.append(event)

        with anyio.move_on_after(0.05) as scope:
            await source.run(emit)
        assert scope.cancelled_caught
        assert emitted == []
