"""Probe transitions (pure) and the ``http`` / ``tcp`` configs' validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grace.errors import ConfigError
from grace.sources import SourceRegistry
from grace.sources.builtin import http_probe, tcp_probe
from grace.sources.builtin._probe import ProbeTracker, Transition
from grace.sources.builtin.http_probe import HttpProbeConfig
from grace.sources.builtin.tcp_probe import TcpProbeConfig

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _feed(tracker: ProbeTracker, results: str) -> list[tuple[int, Transition]]:
    """Feed ``results`` ('.' pass, 'x' fail), one check a second; the transitions by check index."""
    out = []
    for i, mark in enumerate(results):
        transition = tracker.observe(mark == ".", T0 + timedelta(seconds=i))
        if transition is not None:
            out.append((i, transition))
    return out


class TestProbeTracker:
    def test_n_failures_make_one_down_then_one_recovery(self) -> None:
        """Three failures make one ``down``; more failures say nothing; a pass says ``recovered``."""
        seen = _feed(ProbeTracker("p", 3), "..xxxxxx..")
        assert [(i, t.kind, t.failures) for i, t in seen] == [(4, "down", 3), (8, "recovered", 6)]
        assert seen[0][1].since == T0 + timedelta(seconds=2)
        assert seen[0][1].key == "p:down:2026-01-01T12:00:02.000000Z"
        assert seen[1][1].key == "p:up:2026-01-01T12:00:02.000000Z"

    def test_failures_that_do_not_reach_the_threshold_are_quiet(self) -> None:
        """Fewer than N consecutive failures, interrupted by a pass, never make an event."""
        assert _feed(ProbeTracker("p", 3), "xx.xx.x.xx.") == []

    def test_reminders_every_k_further_failures(self) -> None:
        """``reminder_every=2`` re-emits at failures 5 and 7, each under its own key."""
        seen = _feed(ProbeTracker("p", 3, reminder_every=2), "xxxxxxxx")
        assert [(t.kind, t.failures) for _, t in seen] == [
            ("down", 3),
            ("reminder", 5),
            ("reminder", 7),
        ]
        assert len({t.key for _, t in seen}) == 3

    def test_each_outage_has_its_own_keys(self) -> None:
        """Two outages produce different keys (a restart's new outage is not a 'duplicate')."""
        seen = _feed(ProbeTracker("p", 1), "x.x.")
        keys = [t.key for _, t in seen]
        assert len(keys) == 4
        assert len(set(keys)) == 4

    def test_threshold_one_alerts_on_first_failure(self) -> None:
        """``failures_before_event: 1`` makes the first failure the event."""
        seen = _feed(ProbeTracker("p", 1), "x")
        assert [(i, t.kind) for i, t in seen] == [(0, "down")]


def _registry() -> SourceRegistry:
    registry = SourceRegistry()
    registry.register_from([http_probe.HttpProbe, tcp_probe.TcpProbe])
    return registry


class TestConfigs:
    def test_http_defaults(self) -> None:
        """An http probe needs only a URL; the defaults are 10 s, 2 s, 200 and 3 failures."""
        config = _registry().parse({"type": "http", "url": "http://x/health"}, where="t")
        assert isinstance(config, HttpProbeConfig)
        assert (config.interval_s, config.timeout_s, config.expect_status) == (10.0, 2.0, 200)
        assert (config.failures_before_event, config.reminder_every) == (3, 0)

    @pytest.mark.parametrize(
        ("raw", "fragment"),
        [
            ({"url": "ftp://x/"}, "must be an http:// or https:// URL"),
            ({"url": "http://x/", "body_regex": "(unclosed"}, "body_regex '(unclosed' does not"),
            ({"url": "http://x/", "interval_s": 0.01}, "field 'interval_s'"),
            ({"url": "http://x/", "failures_before_event": 0}, "field 'failures_before_event'"),
            ({"url": "http://x/", "failures_before_event": 101}, "field 'failures_before_event'"),
            ({"url": "http://x/", "expect": 200}, "field 'expect'"),
        ],
    )
    def test_http_bad_config_names_the_field(self, raw: dict[str, object], fragment: str) -> None:
        """A bad http config is a ConfigError naming where and what."""
        with pytest.raises(ConfigError, match="sources\\[0\\]") as info:
            _registry().parse({"type": "http", **raw}, where="grace.yaml: sources[0]")
        assert fragment in str(info.value)

    def test_tcp_needs_host_and_a_real_port(self) -> None:
        """A tcp probe's port must be 1..65535."""
        config = _registry().parse({"type": "tcp", "host": "db", "port": 5432}, where="t")
        assert isinstance(config, TcpProbeConfig)
        with pytest.raises(ConfigError, match="field 'port'"):
            _registry().parse({"type": "tcp", "host": "db", "port": 70000}, where="t")
