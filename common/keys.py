"""The bureau's keys: where each comes from, and nothing that could print one.

Three keys, each from its environment variable or else from the keys file:

- master key, `KCDATA_MASTER_KEY` (base64 of 32 bytes): AES-256, wraps the data keys of the
  lake's encrypted Parquet (envelope encryption);
- pseudonym key, `KCDATA_PSEUDONYM_KEY` (base64 of 32 bytes): HMAC-SHA256 of pseudonymised items
  in the open view; one key keeps pseudonyms stable across versions and resources;
- signing key, `KCDATA_SIGNING_KEY` (base64 of the 32-byte Ed25519 private key): signs the
  manifest of every published version.

The keys file (`KCDATA_KEYS_FILE`, else `$KCDATA_SYSTEM_HOME/keys.env`) holds `NAME=value` lines
with mode 0600, outside the repository; `kcdata up` makes it for the local system and
`kcdata keys rotate` rewrites it. Because tasks read the file when they need a key, a rotation
takes effect without restarting anything. Errors name the variable and the file, never a value;
an identifier (a SHA-256 prefix of a key) is safe to show and is what files and manifests record.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import KcdataError
from common.settings import read_settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MASTER_KEY = "KCDATA_MASTER_KEY"
PSEUDONYM_KEY = "KCDATA_PSEUDONYM_KEY"
SIGNING_KEY = "KCDATA_SIGNING_KEY"
ALL_KEYS = (MASTER_KEY, PSEUDONYM_KEY, SIGNING_KEY)
KEYS_FILE_VARIABLE = "KCDATA_KEYS_FILE"


class MissingKey(KcdataError):
    """A key is not configured, or is not a key of the right kind."""


def keys_file() -> Path | None:
    """`KCDATA_KEYS_FILE`, else the running system's `keys.env`; None when neither is set."""
    given = read_settings()
    if given.keys_file:
        return given.keys_file
    return given.system_home / "keys.env" if given.system_home else None


def read_keys_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines; a missing file is empty."""
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def write_keys_file(path: Path, values: Mapping[str, str],
                    header: str = "kcdata keys. Never commit, never print; `kcdata keys rotate` rewrites this file.") -> None:
    """Write `NAME=value` lines atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"# {header}\n")
        for name in sorted(values):
            fh.write(f"{name}={values[name]}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def new_key_value(name: str) -> str:
    """A fresh value for key `name`, encoded as its variable expects: an Ed25519 private key for
    the signing key, 32 random bytes (AES-256 / HMAC-SHA256) for the others."""
    if name == SIGNING_KEY:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        return encode_key(Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return encode_key(AESGCM.generate_key(bit_length=256))


@contextmanager
def keys_file_lock(path: Path, busy: str | None = None) -> Iterator[None]:
    """The lock of the keys file `path` (a `.lock` file beside it), held while the file is made
    (`ensure_keys_file`) or its keys rotated (common/key_rotation.py). Waited for; or, given
    `busy`, a lock held elsewhere is a KcdataError saying `busy` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if busy is None else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KcdataError(f"{busy} (lock {lock})") from None
        yield
    finally:
        os.close(fd)


def ensure_keys_file(path: Path) -> None:
    """Make every missing key in `path` (existing keys are kept: data depends on them). Under the
    file's lock: two processes starting on a fresh machine (`kcdata up` and a `kcdata ingest`)
    must not each make keys of their own, one of them then lost."""
    with keys_file_lock(path):
        values = read_keys_file(path)
        missing = {name: new_key_value(name) for name in ALL_KEYS if not values.get(name)}
        if missing or not path.exists():
            write_keys_file(path, {**values, **missing})
        elif path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def encode_key(raw: bytes) -> str:
    """A key's bytes as the variables and the keys file hold them (base64)."""
    return base64.b64encode(raw).decode("ascii")


def decode_key(value: str, where: str, length: int = 32) -> bytes:
    """The bytes of a base64 key found at `where` (named in the error, never the value)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MissingKey(f"{where} is not base64") from None
    if len(raw) != length:
        raise MissingKey(f"{where} must be {length} bytes (base64), not {len(raw)}")
    return raw


def _raw_key(name: str, length: int = 32) -> bytes:
    """The bytes of key `name` from the environment or the keys file; MissingKey says where to set it."""
    value = read_settings().text(name)
    where = f"the environment variable {name}"
    if not value:
        path = keys_file()
        value = read_keys_file(path).get(name) if path else None
        where = f"{name} in the keys file {path}" if path else where
    if not value:
        hint = f" or in the keys file {keys_file()}" if keys_file() else f" (or a keys file named by {KEYS_FILE_VARIABLE})"
        raise MissingKey(f"no key: set {name}{hint}; `kcdata up` makes the local system's keys")
    return decode_key(value, where, length)


def master_key() -> bytes:
    """The current master key (32 bytes), which wraps the lake's data keys."""
    return _raw_key(MASTER_KEY)


def pseudonym_key() -> bytes:
    """The HMAC key of pseudonymised items (32 bytes)."""
    return _raw_key(PSEUDONYM_KEY)


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key that signs published manifests."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(_raw_key(SIGNING_KEY))


def key_id(key: bytes) -> str:
    """A name for a secret key that reveals nothing about it: the first 16 hex of its SHA-256."""
    return hashlib.sha256(b"kcdata key id\x00" + key).hexdigest()[:16]


def public_key_fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: what manifests and the portal name."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()
