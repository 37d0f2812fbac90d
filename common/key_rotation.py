"""Rotating the bureau's keys (`kcdata keys rotate`), and saying where each key comes from.

Master key: a new key is made, the data keys of every encrypted file in the lake (raw,
validated, quarantine) are re-wrapped with it (common/lake_crypto.py `rewrap`: only the small
key-material file beside each data file is replaced, in one rename; the data is not rewritten),
then the keys file is switched to it, and the lake is swept again for files written during the
rotation by a process that still had the old key. Afterwards the old key opens nothing.

Nothing is ever lost on the way: the new key is in the keys file (`KCDATA_MASTER_KEY_NEXT`)
before the first file is re-wrapped, and the old one (`KCDATA_MASTER_KEY_PREVIOUS`) until the
last sweep is done; readers accept both meanwhile, and a rotation cut short resumes with the
same new key when run again. One rotation at a time (a lock beside the keys file).

Signing key: replaced in the keys file; manifests signed before name the old key and ship its
public key, so they stay verifiable. Nothing here prints a key: only ids and fingerprints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.errors import KcdataError
from common.keys import (
    ALL_KEYS,
    MASTER_KEY,
    PSEUDONYM_KEY,
    SIGNING_KEY,
    MissingKey,
    decode_key,
    encode_key,
    key_id,
    keys_file,
    keys_file_lock,
    master_key,
    new_key_value,
    pseudonym_key,
    public_key_fingerprint,
    read_keys_file,
    signing_key,
    write_keys_file,
)
from common.lake_crypto import (
    MASTER_KEY_NEXT,
    MASTER_KEY_PREVIOUS,
    WrongKey,
    encrypted_files,
    file_key,
    key_material_file,
    opening_keys,
    rewrap,
    wrapper_ids,
)
from common.settings import Paths, read_settings

MAX_SWEEPS = 20


@dataclass
class MasterRotation:
    """What a master-key rotation did (counts and key ids only)."""

    old_id: str
    new_id: str
    rewrapped: int = 0  # files whose data keys were re-wrapped before the switch
    unchanged: int = 0  # files already wrapped by the new key (a resumed rotation)
    swept: int = 0  # files written during the rotation, re-wrapped after the switch
    resumed: bool = False  # a rotation cut short was finished


@dataclass
class KeyStatus:
    """One key: where it comes from and its id (a fingerprint for the signing key), never its value."""

    name: str
    source: str
    ident: str = ""
    problem: str = ""


@dataclass
class LakeKeys:
    """Which master keys wrap the lake's encrypted files, by key id."""

    files: int = 0
    by_key: dict[str, int] = field(default_factory=dict)
    damaged: int = 0


def _writable_keys_file(name: str) -> Path:
    """The keys file `kcdata keys rotate` may rewrite for key `name`, or a clear refusal."""
    if read_settings().text(name):
        raise KcdataError(
            f"{name} is set in the environment, and kcdata cannot change the environment of the services "
            f"that use it. Rotate it where it is set, or move it into the keys file ({keys_file() or 'KCDATA_KEYS_FILE'}) "
            f"and unset {name}, then run `kcdata keys rotate` again"
        )
    path = keys_file()
    if path is None:
        raise MissingKey("no keys file: set KCDATA_KEYS_FILE (or KCDATA_SYSTEM_HOME); `kcdata up` makes the local system's")
    return path


def _update(path: Path, set_: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> None:
    values = read_keys_file(path)
    values.update(set_ or {})
    for name in drop:
        values.pop(name, None)
    write_keys_file(path, values)


def _rewrap_zones(paths: Paths, opening: dict[str, bytes], new: bytes) -> tuple[int, int]:
    """Re-wrap every encrypted file of the lake with `new`; (re-wrapped, already so). Files that
    move meanwhile (a staged batch renamed into place) are found again by another pass."""
    zones = [paths.raw, paths.validated, paths.quarantine]
    rewrapped = unchanged = 0
    failed: list[str] = []
    for _ in range(MAX_SWEEPS):
        moved = False
        for data_file in encrypted_files(zones):
            try:
                if rewrap(data_file, opening, new):
                    rewrapped += 1
                else:
                    unchanged += 1
            except WrongKey as exc:
                if key_material_file(data_file).exists():
                    failed.append(str(exc))
                else:
                    moved = True
        if not moved:
            break
    if failed:
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise WrongKey(f"{len(failed)} encrypted file(s) could not be re-wrapped: {shown}")
    return rewrapped, unchanged


def rotate_master_key(paths: Paths) -> MasterRotation:
    """Re-wrap the lake's data keys with a new master key and switch the keys file to it."""
    path = _writable_keys_file(MASTER_KEY)
    with keys_file_lock(path, busy="another key rotation is under way"):
        old = master_key()
        values = read_keys_file(path)
        pending = file_key(values, MASTER_KEY_NEXT)
        new = pending or decode_key(new_key_value(MASTER_KEY), "a new master key")
        if new == old:
            raise KcdataError("the new master key equals the old one; run `kcdata keys rotate` again")
        result = MasterRotation(old_id=key_id(old), new_id=key_id(new), resumed=pending is not None)
        _update(path, {MASTER_KEY_NEXT: encode_key(new)})  # kept before any file depends on it
        opening = opening_keys()
        result.rewrapped, result.unchanged = _rewrap_zones(paths, opening, new)
        _update(path, {MASTER_KEY: encode_key(new), MASTER_KEY_PREVIOUS: encode_key(old)}, drop=(MASTER_KEY_NEXT,))
        # a process that read the old key before the switch may have written files since
        result.swept, _ = _rewrap_zones(paths, opening, new)
        _update(path, drop=(MASTER_KEY_PREVIOUS,))
    return result


def rotate_signing_key() -> tuple[str, str]:
    """Replace the Ed25519 signing key; (old fingerprint or "", new fingerprint)."""
    path = _writable_keys_file(SIGNING_KEY)
    with keys_file_lock(path, busy="another key rotation is under way"):
        try:
            old = public_key_fingerprint(signing_key().public_key())
        except MissingKey:
            old = ""
        _update(path, {SIGNING_KEY: new_key_value(SIGNING_KEY)})
        new = public_key_fingerprint(signing_key().public_key())
    return old, new


def key_status() -> list[KeyStatus]:
    """Each key's source (environment variable or keys file) and id; a rotation under way too."""
    path = keys_file()
    in_file = read_keys_file(path) if path else {}
    readers = {
        MASTER_KEY: lambda: key_id(master_key()),
        PSEUDONYM_KEY: lambda: key_id(pseudonym_key()),
        SIGNING_KEY: lambda: public_key_fingerprint(signing_key().public_key()),
    }
    out = []
    for name in ALL_KEYS:
        if read_settings().text(name):
            source = f"environment variable {name}"
        elif in_file.get(name):
            source = f"keys file {path}"
        else:
            out.append(KeyStatus(name, "missing", problem=f"set {name} or add it to the keys file {path or '(none configured)'}"))
            continue
        try:
            out.append(KeyStatus(name, source, readers[name]()))
        except MissingKey as exc:
            out.append(KeyStatus(name, source, problem=str(exc)))
    for name in (MASTER_KEY_NEXT, MASTER_KEY_PREVIOUS):
        try:
            extra = file_key(in_file, name)
        except MissingKey as exc:
            out.append(KeyStatus(name, f"keys file {path}", problem=str(exc)))
            continue
        if extra is not None:
            out.append(KeyStatus(name, f"keys file {path}", key_id(extra), "a rotation was cut short: run `kcdata keys rotate`"))
    return out


def lake_keys(paths: Paths) -> LakeKeys:
    """Count the lake's encrypted files by the master key that wraps them."""
    found = LakeKeys()
    for data_file in encrypted_files([paths.raw, paths.validated, paths.quarantine], staged=False):
        found.files += 1
        try:
            for ident in wrapper_ids(data_file):
                found.by_key[ident] = found.by_key.get(ident, 0) + 1
        except WrongKey:
            found.damaged += 1
    return found
