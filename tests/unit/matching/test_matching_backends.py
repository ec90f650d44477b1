"""Backend selection, fallbacks, the hyperscan database cache, and thread safety."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from matching_support import event, require_backend, trigger

from grace.errors import ConfigError
from grace.matching import BACKEND_NAMES, LineHit, Matcher
from grace.matching._backends._hyperscan import HyperscanBackend


class TestSelection:
    def test_auto_takes_the_first_installed_backend(self) -> None:
        """backend=None takes hyperscan, then google-re2, then re, whichever imports."""
        require_backend("hyperscan")
        assert Matcher([trigger(pattern="x")]).backend == "hyperscan"

    def test_auto_skips_a_missing_backend(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without hyperscan, backend=None falls to google-re2, and without both to re."""
        monkeypatch.setitem(sys.modules, "hyperscan", None)
        require_backend("re2")
        assert Matcher([trigger(pattern="x")]).backend == "re2"
        monkeypatch.setitem(sys.modules, "re2", None)
        assert Matcher([trigger(pattern="x")]).backend == "re"

    def test_forcing_a_missing_backend_is_a_clear_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A forced backend that does not import is an error naming it and how to install it."""
        monkeypatch.setitem(sys.modules, "hyperscan", None)
        with pytest.raises(
            ConfigError, match="matching backend 'hyperscan' cannot be used"
        ) as info:
            Matcher([trigger(pattern="x")], backend="hyperscan")
        assert info.value.hint is not None
        assert "grace[fast]" in info.value.hint

    def test_unknown_backend(self) -> None:
        """An unknown backend name is refused, listing the known ones."""
        with pytest.raises(ConfigError, match="unknown matching backend 'pcre'") as info:
            Matcher([], backend="pcre")
        assert info.value.hint == f"use one of {', '.join(BACKEND_NAMES)}, or leave it unset"

    def test_invalid_pattern_names_its_triggers(self) -> None:
        """A bad regex is refused, naming every trigger that uses it."""
        with pytest.raises(ConfigError, match=r"trigger a\[0\], b\[0\]: invalid regex '\(oops'"):
            Matcher([trigger("a", "(oops"), trigger("b", "(oops")], backend="re")

    def test_backend_property_reports_the_engine(self, backend: str) -> None:
        """The backend property names the engine in use."""
        assert Matcher([trigger(pattern="x")], backend=backend).backend == backend


class TestPrefilter:
    def test_many_patterns_go_through_the_engine(self, backend: str) -> None:
        """With many patterns match() prefilters with the engine and still finds every hit."""
        triggers = [trigger(f"p{k:03d}", rf"job (?P<job>sync-{k}-\d+) failed") for k in range(200)]
        triggers.append(trigger("fallback", "x{70000}"))
        matcher = Matcher(triggers, backend=backend)
        (found,) = matcher.match(event("job sync-117-9 failed after 3 retries"))
        assert (found.playbook, found.captures) == ("p117", {"job": "sync-117-9"})
        assert [m.playbook for m in matcher.match(event("x" * 70000))] == ["fallback"]
        assert matcher.match(event("job sync-999-1 failed")) == []

    def test_lone_surrogates_in_a_message(self, backend: str) -> None:
        """A message holding lone surrogates (undecodable bytes) is still matched correctly."""
        triggers = [trigger(f"p{k}", rf"bad byte {k} (?P<b>.)") for k in range(10)]
        (found,) = Matcher(triggers, backend=backend).match(event("bad byte 3 \udcff here"))
        assert found.captures == {"b": "\udcff"}


class TestCache:
    @pytest.fixture(autouse=True)
    def _hyperscan(self) -> None:
        """The cache belongs to the hyperscan backend."""
        require_backend("hyperscan")

    def test_round_trip(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A second matcher with the same patterns loads the database instead of compiling."""
        triggers = [trigger(f"p{k}", rf"worker (?P<id>\d+) died on shard-{k}\b") for k in range(50)]
        first = Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        (cached,) = tmp_path.glob("hyperscan-*.db")

        def no_compiling(*_args: object) -> None:
            raise AssertionError("compiled instead of loading the cache")

        monkeypatch.setattr(HyperscanBackend, "_compile", no_compiling)
        second = Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        buffer = b"worker 12 died on shard-7\nworker 12 died on shard-77\n"
        assert second.scan(buffer) == first.scan(buffer) == [LineHit(0, 25, (7,))]
        assert list(tmp_path.glob("hyperscan-*.db")) == [cached]

    def test_refused_patterns_are_remembered(self, tmp_path: Path) -> None:
        """The ids hyperscan refused are cached with the database, so fallbacks stay the same."""
        triggers = [trigger("a", "x{70000}"), trigger("b", "boom")]
        first = Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        second = Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        assert first.fallback_patterns == second.fallback_patterns == ("x{70000}",)

    def test_other_patterns_miss_the_cache(self, tmp_path: Path) -> None:
        """Changed patterns give another key, hence another file."""
        Matcher([trigger(pattern="one")], backend="hyperscan", cache_dir=tmp_path)
        Matcher([trigger(pattern="two")], backend="hyperscan", cache_dir=tmp_path)
        assert len(list(tmp_path.glob("hyperscan-*.db"))) == 2

    @pytest.mark.parametrize(
        "damage",
        [
            lambda data: b"",
            lambda data: b"not a cache file",
            lambda data: data[:-10],
            lambda data: data.replace(b'"rejected"', b'"rejectes"'),
            lambda data: (
                data[: data.index(b"\n", 30) + 1]
                + b"\x00" * (len(data) - data.index(b"\n", 30) - 1)
            ),
        ],
        ids=["empty", "garbage", "truncated", "bad-header", "zeroed-payload"],
    )
    def test_corrupt_cache_is_ignored_and_rewritten(self, tmp_path: Path, damage: object) -> None:
        """A damaged cache file is a miss: the database is recompiled and the file rewritten."""
        triggers = [trigger(pattern=r"disk (?P<dev>\S+) full")]
        Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        (cached,) = tmp_path.glob("hyperscan-*.db")
        good = cached.read_bytes()
        cached.write_bytes(damage(good))  # type: ignore[operator]
        matcher = Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        assert matcher.scan(b"disk sda full\n") == [LineHit(0, 13, (0,))]
        assert cached.read_bytes() == good

    def test_forged_digest_over_a_bad_database(self, tmp_path: Path) -> None:
        """A payload with a matching digest that hyperscan cannot load is also a miss."""
        import hashlib
        import json

        from grace.matching import _cache

        triggers = [trigger(pattern="boom")]
        Matcher(triggers, backend="hyperscan", cache_dir=tmp_path)
        (cached,) = tmp_path.glob("hyperscan-*.db")
        key = cached.stem.removeprefix("hyperscan-")
        blob = b"\x00" * 64
        header = json.dumps({"sha256": hashlib.sha256(blob).hexdigest(), "rejected": []})
        cached.write_bytes(_cache._MAGIC + header.encode() + b"\n" + blob)
        assert _cache.load(tmp_path, key) is not None
        assert Matcher(triggers, backend="hyperscan", cache_dir=tmp_path).scan(b"boom") == [
            LineHit(0, 4, (0,))
        ]

    def test_unwritable_cache_dir_is_skipped(self, tmp_path: Path) -> None:
        """When the cache cannot be written the matcher still works, without it."""
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        matcher = Matcher([trigger(pattern="boom")], backend="hyperscan", cache_dir=blocker / "sub")
        assert matcher.scan(b"boom\n") == [LineHit(0, 4, (0,))]


class TestThreads:
    def test_concurrent_scans_each_use_their_own_scratch(self, backend: str) -> None:
        """Threads may share one matcher: each gets its own hyperscan scratch space."""
        matcher = Matcher(
            [trigger(f"p{k}", rf"worker \d+ died on shard-{k}\b") for k in range(20)],
            backend=backend,
        )
        buffer = b"".join(
            b"worker %d died on shard-%d\nnoise line\n" % (n, n % 40) for n in range(2000)
        )
        expected = matcher.scan(buffer)
        results: list[bool] = []

        def work() -> None:
            results.extend(matcher.scan(buffer) == expected for _ in range(20))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [True] * 80
        assert len(expected) == 1000
