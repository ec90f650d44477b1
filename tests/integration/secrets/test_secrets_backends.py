"""Each secrets backend against the real thing it reads: the process environment, real files
and directories, a real file-backed keyring, and Vault's KV v2 HTTP API (the fake in
tests/fixtures/apps/vault_fake, over real HTTP). Every miss says why, never with a value."""

from __future__ import annotations

import json
import secrets
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from grace.errors import ConfigError, PluginError
from grace.secrets import Hit, Miss, backend_types, lookup, parse_backends

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from github_token_helpers import require, vault_fake

KEY = "GITHUB_TOKEN"


@pytest.fixture
def value() -> str:
    return "ghp_" + secrets.token_hex(18)


def one(raw: Mapping[str, object], key: str = KEY) -> Hit | Miss:
    (backend,) = parse_backends([raw])
    return backend.lookup(key)


def assert_miss(answer: Hit | Miss, value: str | None = None) -> str:
    assert isinstance(answer, Miss), answer
    if value is not None:
        assert value not in answer.reason
    return answer.reason


# -- env ------------------------------------------------------------------------------------


def test_env_reads_the_variable_the_template_names(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """``variable: GRACE_{key}`` reads $GRACE_GITHUB_TOKEN; blanks around the value are dropped."""
    monkeypatch.setenv("GRACE_GITHUB_TOKEN", f"  {value}\n")
    answer = one({"type": "env", "variable": "GRACE_{key}"})
    assert answer == Hit("env", "env:GRACE_GITHUB_TOKEN", answer.value)  # type: ignore[union-attr]
    assert isinstance(answer, Hit)
    assert answer.value.get_secret_value() == value
    assert value not in repr(answer)
    assert value not in str(answer.value)


def test_env_misses_say_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY, raising=False)
    assert assert_miss(one({"type": "env"})) == "$GITHUB_TOKEN is not set in Grace's environment"
    monkeypatch.setenv(KEY, "   ")
    assert assert_miss(one({"type": "env"})) == "env:GITHUB_TOKEN is set but empty"


# -- file -----------------------------------------------------------------------------------


def test_file_directory_json_and_dotenv(tmp_path: Path, value: str) -> None:
    """A secrets directory (one file per key), a JSON file (dotted path), a dotenv file."""
    d = tmp_path / "run_secrets"
    d.mkdir()
    (d / KEY).write_text(value + "\n", encoding="utf-8")
    answer = one({"type": "file", "path": str(d)})
    assert isinstance(answer, Hit)
    assert (answer.reference, answer.value.get_secret_value()) == (f"file:{d / KEY}", value)

    j = tmp_path / "secrets.json"
    j.write_text(json.dumps({"github": {"token": value}}), encoding="utf-8")
    answer = one({"type": "file", "path": str(j), "field": "github.token"})
    assert isinstance(answer, Hit)
    assert answer.value.get_secret_value() == value

    e = tmp_path / "secrets.env"
    e.write_text(f"# shared\nOTHER=1\nexport {KEY}='{value}'\n", encoding="utf-8")
    answer = one({"type": "file", "path": str(e)})
    assert isinstance(answer, Hit)
    assert (answer.reference, answer.value.get_secret_value()) == (f"file:{e}#{KEY}", value)


def test_file_misses_explain_and_never_quote_content(tmp_path: Path, value: str) -> None:
    d = tmp_path / "run_secrets"
    d.mkdir()
    assert assert_miss(one({"type": "file", "path": str(d)})) == f"{d / KEY} does not exist"
    bad = tmp_path / "bad.json"
    bad.write_text('{"GITHUB_TOKEN": "' + value + '"', encoding="utf-8")  # truncated JSON
    assert "is not valid JSON" in assert_miss(one({"type": "file", "path": str(bad)}), value)
    nested = tmp_path / "n.json"
    nested.write_text(json.dumps({KEY: {"v": value}}), encoding="utf-8")
    reason = assert_miss(one({"type": "file", "path": str(nested)}), value)
    assert reason == f"{nested} entry 'GITHUB_TOKEN' is a dict, not a string"
    big = tmp_path / "big.env"
    big.write_bytes(b"X" * 70_000)
    assert "more than a secret" in assert_miss(one({"type": "file", "path": str(big)}))
    env = tmp_path / "a.env"
    env.write_text("OTHER=1\n", encoding="utf-8")
    assert (
        assert_miss(one({"type": "file", "path": str(env)})) == f"{env} has no GITHUB_TOKEN= line"
    )


# -- keyring --------------------------------------------------------------------------------


@pytest.fixture
def plaintext_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """keyrings.alt's file-backed keyring, in a data dir of the test's own."""
    require("keyring")
    require("keyrings.alt")
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.core.init_backend()
    try:
        yield PlaintextKeyring()
    finally:
        monkeypatch.undo()
        keyring.core.init_backend()


def test_keyring_through_keyrings_own_choice_and_an_explicit_backend(
    plaintext_keyring: object, value: str
) -> None:
    """PYTHON_KEYRING_BACKEND picks the file keyring; ``backend:`` names it explicitly."""
    import keyring

    keyring.set_password("grace", KEY, value)
    for raw in (
        {"type": "keyring"},
        {"type": "keyring", "backend": "keyrings.alt.file.PlaintextKeyring"},
    ):
        answer = one(raw)
        assert isinstance(answer, Hit), answer
        assert answer.reference == "keyring:grace/GITHUB_TOKEN"
        assert answer.value.get_secret_value() == value
    reason = assert_miss(one({"type": "keyring", "service": "other"}))
    assert reason == "keyrings.alt.file.PlaintextKeyring has no password for other/GITHUB_TOKEN"


def test_keyring_without_a_usable_keyring_says_so(plaintext_keyring: object) -> None:
    reason = assert_miss(one({"type": "keyring", "backend": "keyring.backends.fail.Keyring"}))
    assert reason.startswith("no OS keyring is available here")
    reason = assert_miss(one({"type": "keyring", "backend": "nowhere.Keyring"}))
    assert reason.startswith("keyring backend 'nowhere.Keyring' cannot be loaded")


# -- vault ----------------------------------------------------------------------------------


@pytest.fixture
def vault(tmp_path: Path, value: str) -> Iterator[tuple[str, str]]:
    """The fake Vault with ``secret/grace/github`` = {token: value}; yields (address, root)."""
    root = "hvs." + secrets.token_urlsafe(24)
    with vault_fake(tmp_path, root, namespace="team-a") as address:
        reply = httpx.put(
            f"{address}/v1/secret/data/grace/github",
            headers={"X-Vault-Token": root, "X-Vault-Namespace": "team-a"},
            json={"data": {"token": value, "user": "octocat"}},
        )
        assert reply.status_code == 200, reply.text
        yield address, root


def test_vault_reads_a_kv2_field_with_token_and_namespace(
    vault: tuple[str, str], value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, root = vault
    monkeypatch.setenv("VAULT_TOKEN", root)
    monkeypatch.setenv("VAULT_NAMESPACE", "team-a")
    raw = {"type": "vault", "address": address, "path": "grace/github", "field": "token"}
    answer = one(raw)
    assert isinstance(answer, Hit), answer
    assert answer.reference == f"vault:{address}/v1/secret/data/grace/github#token"
    assert answer.value.get_secret_value() == value


def test_vault_token_from_a_file_and_address_from_the_environment(
    vault: tuple[str, str], value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, root = vault
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("VAULT_ADDR", address)
    token_file = tmp_path / "vault-token"
    token_file.write_text(root + "\n", encoding="utf-8")
    raw = {
        "type": "vault",
        "path": "grace/github",
        "field": "token",
        "namespace": "team-a",
        "token_file": str(token_file),
    }
    answer = one(raw)
    assert isinstance(answer, Hit), answer
    assert answer.value.get_secret_value() == value


def test_vault_misses_explain(
    vault: tuple[str, str], value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong token, wrong namespace, no secret, no field, no token, unreachable: each a reason."""
    address, root = vault
    base = {"type": "vault", "address": address, "path": "grace/github", "namespace": "team-a"}
    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong")
    assert "403 permission denied" in assert_miss(one({**base, "field": "token"}), value)
    monkeypatch.setenv("VAULT_TOKEN", root)
    assert "403" in assert_miss(one({**base, "field": "token", "namespace": "team-b"}))
    assert "(404)" in assert_miss(one({**base, "path": "grace/none", "field": "token"}))
    reason = assert_miss(one(base), value)  # the field defaults to the key: GITHUB_TOKEN
    assert reason.endswith("has no 'GITHUB_TOKEN' field")
    monkeypatch.delenv("VAULT_TOKEN")
    reason = assert_miss(one({**base, "token_file": str(tmp_path / "none")}))
    assert reason == f"no Vault token: $VAULT_TOKEN is unset and {tmp_path / 'none'} does not exist"
    monkeypatch.setenv("VAULT_TOKEN", root)
    from grace.testing import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    reason = assert_miss(one({**base, "address": closed, "timeout_s": 2}))
    assert reason.startswith(f"Vault is unreachable at {closed}: ConnectError")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    no_address = {k: v for k, v in base.items() if k != "address"}
    assert assert_miss(one(no_address)) == "no Vault address: set 'address:' or $VAULT_ADDR"


# -- the chain, its configuration, plugins --------------------------------------------------


def test_the_first_hit_wins_and_misses_before_it_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("GRACE_NONE_GITHUB_TOKEN", raising=False)
    d = tmp_path / "s"
    d.mkdir()
    (d / KEY).write_text(value, encoding="utf-8")
    monkeypatch.setenv("LATER_GITHUB_TOKEN", "ghp_later")
    chain = parse_backends(
        [
            {"type": "env", "variable": "GRACE_NONE_{key}", "name": "first"},
            {"type": "file", "path": str(d)},
            {"type": "env", "variable": "LATER_{key}"},
        ]
    )
    result = lookup(chain, KEY)
    assert result.hit is not None
    assert (result.hit.backend, result.hit.value.get_secret_value()) == ("file", value)
    assert [str(m) for m in result.misses] == [
        "first: $GRACE_NONE_GITHUB_TOKEN is not set in Grace's environment"
    ]
    assert value not in result.explain()
    assert result.explain().endswith(f"- file: found (file:{d / KEY})")


def test_configuration_errors_name_the_item_and_field() -> None:
    with pytest.raises(
        ConfigError, match=r"secrets.backends\[1\]: unknown secrets backend type 'vualt'"
    ) as e:
        parse_backends([{"type": "env"}, {"type": "vualt"}])
    assert e.value.hint == "did you mean 'vault'?"
    with pytest.raises(
        ConfigError, match=r"\[0\]: secrets backend 'vault' field 'path': Field required"
    ):
        parse_backends([{"type": "vault"}])
    with pytest.raises(ConfigError, match=r"field 'token': Extra inputs are not permitted"):
        parse_backends([{"type": "vault", "path": "a", "token": "hvs.x"}])
    with pytest.raises(ConfigError, match="variable 'GITHUB-TOKEN' is not an environment"):
        parse_backends([{"type": "env", "variable": "GITHUB-TOKEN"}])
    assert [b.kind for b in parse_backends(None)] == ["env", "keyring"]


PLUGIN = '''
from typing import ClassVar, Literal
from grace.secrets import Hit, Miss, SecretBackend

class Reversed(SecretBackend):
    """A toy backend: the key spelled backwards (a real plugin would call a secrets service)."""
    kind: ClassVar[str] = "reversed"
    type: Literal["reversed"] = "reversed"

    def lookup(self, key):
        return self.hit(f"reversed:{key}", key[::-1])

class Broken(SecretBackend):
    kind: ClassVar[str] = "broken"
    type: Literal["broken"] = "broken"

    def lookup(self, key):
        raise RuntimeError("the service fell over holding s3cr3t")
'''


def _install_plugin(root: Path, entry_points: str) -> None:
    """A real installed distribution (dist-info with entry_points.txt) on sys.path."""
    (root / "grace_secrets_toy.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = root / "grace_secrets_toy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: grace-secrets-toy\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def test_a_plugin_registers_through_the_grace_secrets_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(
        tmp_path,
        "[grace.secrets]\nreversed = grace_secrets_toy:Reversed\nbroken = grace_secrets_toy:Broken\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"reversed", "broken"} <= set(backend_types())
    result = lookup(parse_backends([{"type": "broken"}, {"type": "reversed"}]), "ABC")
    assert result.hit is not None
    assert (result.hit.reference, result.hit.value.get_secret_value()) == ("reversed:ABC", "CBA")
    # A plugin that raises is one miss; its message (which might hold anything) is not shown.
    assert [str(m) for m in result.misses] == ["broken: failed: RuntimeError"]


def test_a_plugin_that_is_not_a_backend_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, "[grace.secrets]\nwrong = grace_secrets_toy:Hit\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'wrong' .* is not a SecretBackend subclass"):
        backend_types()
