"""The Ed25519 key that signs audit checkpoints.

The private key lives at ``<data_dir>/audit_ed25519.key`` (PKCS#8 PEM, mode 0600), the public
key beside it at ``audit_ed25519.pub`` (SubjectPublicKeyInfo PEM). Both are created on first
use, atomically: a half-written key file is never visible, and two processes starting at once
end up with the same key. A private key file that group or others can read is refused.

A checkpoint signs the ASCII text ``f"{seq}:{hash}"``; the signature is stored as hex.

``cryptography`` is imported only where a key is created, loaded or used: it is ~11 MB of a
daemon's memory, and a running daemon needs the key only when it signs a checkpoint.
:func:`check_key_files` checks at start-up, with the standard library alone, what can be
checked without loading the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grace.audit._chain import Checkpoint
from grace.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = (
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "SigningKey",
    "check_key_files",
    "checkpoint_message",
    "key_id",
    "load_or_create_key",
    "load_public_key",
    "load_public_keys",
    "verify_checkpoint",
)

PRIVATE_KEY_FILE = "audit_ed25519.key"
PUBLIC_KEY_FILE = "audit_ed25519.pub"

_ED25519_ALGORITHM = bytes.fromhex("300506032b6570")
"""DER of the AlgorithmIdentifier every Ed25519 PKCS#8 and SubjectPublicKeyInfo key holds
(OID 1.3.101.112, no parameters; RFC 8410)."""


def checkpoint_message(seq: int, hash: str) -> bytes:
    """The exact bytes a checkpoint signs: ``f"{seq}:{hash}"`` in ASCII."""
    return f"{seq}:{hash}".encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of sha256 over the raw 32-byte public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_checkpoint(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """Whether ``checkpoint.signature`` is ``public_key``'s signature over its seq and hash."""
    from cryptography.exceptions import InvalidSignature

    try:
        signature = bytes.fromhex(checkpoint.signature)
        public_key.verify(signature, checkpoint_message(checkpoint.seq, checkpoint.hash))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key that signs checkpoints, with its public half and id."""

    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    key_id: str
    """See :func:`key_id`."""

    def sign(self, seq: int, hash: str, signed_at: str) -> Checkpoint:
        """A checkpoint over entry ``seq`` whose chain hash is ``hash``."""
        signature = self.private_key.sign(checkpoint_message(seq, hash)).hex()
        return Checkpoint(seq, hash, signed_at, self.key_id, signature)


def load_or_create_key(data_dir: Path) -> SigningKey:
    """The checkpoint key in ``data_dir``, created (mode 0600) on first use.

    Raises:
        ConfigError: the key file is readable by group or others, is not an Ed25519 PEM key,
            or the public key file beside it belongs to another key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / PRIVATE_KEY_FILE
    if not key_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Losing the race to another process is fine: then its key is the key.
        _write_new_file(key_path, pem, 0o600)
    _check_private_mode(key_path)
    private_key = _read_private_key(key_path)
    public_key = private_key.public_key()
    pub_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path = data_dir / PUBLIC_KEY_FILE
    if not pub_path.exists():
        _write_new_file(pub_path, pub_pem, 0o644)
    elif key_id(load_public_key(pub_path)) != key_id(public_key):
        msg = f"{pub_path} does not hold the public half of {key_path}"
        hint = f"if {key_path} is the right key, delete {pub_path} and Grace will rewrite it"
        raise ConfigError(msg, hint=hint)
    return SigningKey(private_key, public_key, key_id(public_key))


def check_key_files(data_dir: Path) -> bool:
    """Check the key files in ``data_dir`` without loading the key; True when the key exists.

    Checks what :func:`load_or_create_key` would refuse that the standard library can see:
    a private key group or others can read, and a private or public key file that is not a
    PEM Ed25519 key. Only whether the ``.pub`` belongs to the private key waits for the key's
    first use (that needs Ed25519 arithmetic, and so ``cryptography``).

    Raises:
        ConfigError: as :func:`load_or_create_key` does for those faults.
    """
    key_path = data_dir / PRIVATE_KEY_FILE
    if not key_path.exists():
        return False
    _check_private_mode(key_path)
    der = _pem_der(key_path, "PRIVATE KEY")
    if der is None:
        msg = f"{key_path} is not an unencrypted PEM private key"
        raise ConfigError(msg)
    if _ED25519_ALGORITHM not in der:
        msg = f"{key_path} holds another kind of key, not an Ed25519 private key"
        raise ConfigError(msg)
    pub_path = data_dir / PUBLIC_KEY_FILE
    if pub_path.exists() and _ED25519_ALGORITHM not in (_pem_der(pub_path, "PUBLIC KEY") or b""):
        msg = f"{pub_path} is not a PEM Ed25519 public key"
        hint = f"if {key_path} is the right key, delete {pub_path} and Grace will rewrite it"
        raise ConfigError(msg, hint=hint)
    return True


def _pem_der(path: Path, label: str) -> bytes | None:
    """The DER bytes of the first ``-----BEGIN <label>-----`` block of a PEM file, or None."""
    text = path.read_bytes()
    begin, end = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
    start = text.find(begin)
    stop = text.find(end, start + len(begin))
    if start < 0 or stop < 0:
        return None
    try:
        return base64.b64decode(b"".join(text[start + len(begin) : stop].split()), validate=True)
    except binascii.Error:
        return None


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file.

    Raises:
        ConfigError: the file is missing or holds something else.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        msg = f"audit public key {path} does not exist"
        raise ConfigError(msg) from exc
    except ValueError as exc:
        msg = f"{path} is not a PEM public key: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(key, Ed25519PublicKey):
        msg = f"{path} holds a {type(key).__name__}, not an Ed25519 public key"
        raise ConfigError(msg)
    return key


def load_public_keys(*paths: Path) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id, for ``verify``. A directory stands for every ``*.pub`` in it."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        files = sorted(path.glob("*.pub")) if path.is_dir() else [path]
        for file in files:
            key = load_public_key(file)
            keys[key_id(key)] = key
    return keys


def _check_private_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        msg = (
            f"the audit signing key {path} is readable by group or others (mode {mode:04o}); "
            "Grace refuses to sign with a key others may have copied"
        )
        raise ConfigError(msg, hint=f"chmod 600 {path}")


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        msg = f"{path} is not an unencrypted PEM private key: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{path} holds a {type(key).__name__}, not an Ed25519 private key"
        raise ConfigError(msg)
    return key


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``data`` atomically; a no-op if it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed or (on odd systems) widened it
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process wrote
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: rename, which is atomic too
            if not path.exists():
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
