"""The checkpoint signing key: created once, 0600, refused when exposed; signatures."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from grace.audit import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    Checkpoint,
    check_key_files,
    checkpoint_message,
    key_id,
    load_or_create_key,
    load_public_key,
    load_public_keys,
    verify_checkpoint,
)
from grace.errors import ConfigError

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


class TestKeyFiles:
    @posix_only
    def test_created_on_first_use_with_mode_0600(self, tmp_path: Path) -> None:
        """The private key file is created in the data dir, readable by its owner only."""
        key = load_or_create_key(tmp_path / "data")
        path = tmp_path / "data" / PRIVATE_KEY_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert load_public_key(tmp_path / "data" / PUBLIC_KEY_FILE) == key.public_key
        assert not [p for p in (tmp_path / "data").iterdir() if p.name.endswith(".tmp")]

    def test_second_start_loads_the_same_key(self, tmp_path: Path) -> None:
        """Starting again reuses the key instead of making a new one."""
        assert load_or_create_key(tmp_path).key_id == load_or_create_key(tmp_path).key_id

    def test_concurrent_first_starts_agree(self, tmp_path: Path) -> None:
        """Processes racing to create the key all end up with one key."""
        ids: list[str] = []
        barrier = threading.Barrier(8)

        def start() -> None:
            barrier.wait()
            ids.append(load_or_create_key(tmp_path).key_id)

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(ids)) == 1
        assert load_or_create_key(tmp_path).key_id == ids[0]

    @posix_only
    def test_group_readable_key_is_refused_with_the_fix(self, tmp_path: Path) -> None:
        """A key others can read is refused; the error says how to fix it."""
        load_or_create_key(tmp_path)
        path = tmp_path / PRIVATE_KEY_FILE
        path.chmod(0o640)
        with pytest.raises(ConfigError, match="readable by group or others") as info:
            load_or_create_key(tmp_path)
        assert info.value.hint == f"chmod 600 {path}"

    def test_public_key_of_another_key_is_refused(self, tmp_path: Path) -> None:
        """A .pub that does not belong to the private key is an error, not silently kept."""
        load_or_create_key(tmp_path)
        other = Ed25519PrivateKey.generate().public_key()
        (tmp_path / PUBLIC_KEY_FILE).write_bytes(
            other.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        with pytest.raises(ConfigError, match="does not hold the public half"):
            load_or_create_key(tmp_path)

    def test_missing_public_key_is_rewritten(self, tmp_path: Path) -> None:
        """Deleting the .pub is harmless: it is derived again from the private key."""
        key = load_or_create_key(tmp_path)
        (tmp_path / PUBLIC_KEY_FILE).unlink()
        load_or_create_key(tmp_path)
        assert load_public_key(tmp_path / PUBLIC_KEY_FILE) == key.public_key

    def test_garbage_key_file_is_a_clear_error(self, tmp_path: Path) -> None:
        """A corrupt key file names itself in the error."""
        path = tmp_path / PRIVATE_KEY_FILE
        path.write_text("not a key")
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=PRIVATE_KEY_FILE):
            load_or_create_key(tmp_path)

    def test_load_public_keys_from_files_and_directories(self, tmp_path: Path) -> None:
        """Keys are indexed by key id; a directory contributes every *.pub in it."""
        a = load_or_create_key(tmp_path / "a")
        b = load_or_create_key(tmp_path / "b")
        keys = load_public_keys(tmp_path / "a" / PUBLIC_KEY_FILE, tmp_path / "b")
        assert set(keys) == {a.key_id, b.key_id}

    def test_missing_public_key_file_is_a_config_error(self, tmp_path: Path) -> None:
        """Pointing verify at a key that is not there says so."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_public_key(tmp_path / "nope.pub")


class TestStartUpCheck:
    """``check_key_files``: what start-up checks without loading the key (or cryptography)."""

    def test_no_key_yet_is_not_an_error(self, tmp_path: Path) -> None:
        """Before the first start there is nothing to check, and nothing is written."""
        assert check_key_files(tmp_path) is False
        assert list(tmp_path.iterdir()) == []

    def test_a_good_key_passes(self, tmp_path: Path) -> None:
        """The files load_or_create_key writes pass, with or without the .pub."""
        load_or_create_key(tmp_path)
        assert check_key_files(tmp_path) is True
        (tmp_path / PUBLIC_KEY_FILE).unlink()
        assert check_key_files(tmp_path) is True

    @posix_only
    def test_an_exposed_key_is_refused_with_the_fix(self, tmp_path: Path) -> None:
        """The mode check is the same as load_or_create_key's, with the same hint."""
        load_or_create_key(tmp_path)
        path = tmp_path / PRIVATE_KEY_FILE
        path.chmod(0o644)
        with pytest.raises(ConfigError, match="readable by group or others") as info:
            check_key_files(tmp_path)
        assert info.value.hint == f"chmod 600 {path}"

    @pytest.mark.parametrize(
        "content",
        [
            b"not a key",
            b"-----BEGIN PRIVATE KEY-----\n!!not base64!!\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ],
        ids=["garbage", "bad-base64", "encrypted"],
    )
    def test_a_file_that_is_no_pem_private_key_is_refused(
        self, tmp_path: Path, content: bytes
    ) -> None:
        """What load_or_create_key could never load is refused at start-up, naming the file."""
        path = tmp_path / PRIVATE_KEY_FILE
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=f"{PRIVATE_KEY_FILE} is not an unencrypted PEM"):
            check_key_files(tmp_path)

    def test_a_key_of_another_kind_is_refused(self, tmp_path: Path) -> None:
        """An EC (or RSA) private key is not taken for the Ed25519 signing key."""
        path = tmp_path / PRIVATE_KEY_FILE
        path.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        with pytest.raises(ConfigError, match="not an Ed25519 private key"):
            check_key_files(tmp_path)
        with pytest.raises(ConfigError, match="not an Ed25519 private key"):
            load_or_create_key(tmp_path)  # the full load agrees

    def test_a_pub_file_that_is_no_ed25519_key_is_refused(self, tmp_path: Path) -> None:
        """A damaged .pub is refused at start-up, with the way to have it rewritten."""
        load_or_create_key(tmp_path)
        (tmp_path / PUBLIC_KEY_FILE).write_text("garbage")
        with pytest.raises(ConfigError, match=f"{PUBLIC_KEY_FILE} is not a PEM Ed25519") as info:
            check_key_files(tmp_path)
        assert info.value.hint is not None
        assert "delete" in info.value.hint

    def test_checking_imports_no_cryptography(self, tmp_path: Path) -> None:
        """The check runs in a daemon that has not loaded cryptography, and keeps it that way."""
        load_or_create_key(tmp_path)
        code = (
            "import sys; from pathlib import Path; from grace.audit import check_key_files; "
            f"print(check_key_files(Path({str(tmp_path)!r})), "
            "[m for m in sys.modules if m.startswith('cryptography')])"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "True []"


class TestSignatures:
    def test_key_id_is_16_hex_of_sha256_of_the_raw_public_key(self, tmp_path: Path) -> None:
        """The documented key id formula."""
        key = load_or_create_key(tmp_path)
        raw = key.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert key.key_id == key_id(key.public_key) == hashlib.sha256(raw).hexdigest()[:16]

    def test_checkpoint_signs_seq_colon_hash(self, tmp_path: Path) -> None:
        """The signature is over the ASCII text f'{seq}:{hash}', and verifies as such."""
        key = load_or_create_key(tmp_path)
        cp = key.sign(1000, "ab" * 32, "2024-05-01T00:00:00.000000Z")
        assert checkpoint_message(1000, "ab" * 32) == b"1000:" + b"ab" * 32
        key.public_key.verify(bytes.fromhex(cp.signature), f"1000:{'ab' * 32}".encode())
        assert verify_checkpoint(key.public_key, cp)

    @pytest.mark.parametrize(
        "change",
        [
            {"seq": 1001},
            {"hash": "cd" * 32},
            {"signature": "00" * 64},
            {"signature": "zz"},
        ],
        ids=["seq", "hash", "signature", "not-hex"],
    )
    def test_any_alteration_fails(self, tmp_path: Path, change: dict[str, object]) -> None:
        """Changing the seq, the hash or the signature breaks the checkpoint."""
        key = load_or_create_key(tmp_path)
        cp = key.sign(1000, "ab" * 32, "t")
        fields = {
            "seq": cp.seq,
            "hash": cp.hash,
            "signed_at": cp.signed_at,
            "key_id": cp.key_id,
            "signature": cp.signature,
        }
        altered = Checkpoint(**{**fields, **change})  # type: ignore[arg-type]
        assert not verify_checkpoint(key.public_key, altered)

    def test_another_key_does_not_verify(self, tmp_path: Path) -> None:
        """A checkpoint verifies only under the key that signed it."""
        cp = load_or_create_key(tmp_path / "a").sign(1, "ab" * 32, "t")
        assert not verify_checkpoint(load_or_create_key(tmp_path / "b").public_key, cp)
