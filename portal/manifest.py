"""Signed manifests: what one published version consists of, so anyone can check a download.

Three files are published beside the data:

- `manifest.json`: resource code, dataset, catalog version, fingerprint, rules, time, the signing
  key's fingerprint, and per file its portal name, file name, size, SHA-256 and row count. The
  file *is* the signed bytes: canonical JSON (sorted keys, UTF-8, no whitespace), so nobody has
  to re-serialise anything to verify it;
- `manifest.json.sig`: the raw 64-byte Ed25519 signature of those bytes (raw, not base64, so
  `openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in manifest.json
  -sigfile manifest.json.sig` checks it as is);
- `signing-key.pem`: the public key (SubjectPublicKeyInfo PEM). Anyone can put a key beside a
  manifest, so a verifier pins the fingerprint the bureau states (`--key-fingerprint`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from common.checksums import sha256_file
from common.errors import KcdataError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "signing-key.pem"
MANIFEST_FORMAT = "kcdata-manifest/1"
ALGORITHM = "Ed25519"
SIGNED_FILES = (MANIFEST, SIGNATURE, PUBLIC_KEY)


class ManifestError(KcdataError):
    """A manifest that cannot be read (not JSON, or not a kcdata manifest)."""


@dataclass(frozen=True)
class FileEntry:
    """One published file as the manifest states it."""

    name: str  # its name on the portal (data.csv)
    file: str  # its file name (what a download is saved as)
    format: str
    size: int
    sha256: str
    rows: int | None  # data rows of a CSV or Parquet file; None for the dictionary


@dataclass(frozen=True)
class Manifest:
    resource_code: str
    dataset: str
    catalog_version: int
    fingerprint: str
    rules: str
    created_at: str  # UTC, ISO 8601 (when this version was first signed)
    signing_key: str  # SHA-256 of the raw Ed25519 public key (common.keys.public_key_fingerprint)
    files: list[FileEntry] = field(default_factory=list)
    algorithm: str = ALGORITHM
    format: str = MANIFEST_FORMAT

    def to_bytes(self) -> bytes:
        """The canonical bytes: what is signed and what manifest.json holds."""
        return canonical_json(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data.decode("utf-8"))
            files = [FileEntry(**f) for f in raw.pop("files")]
            return cls(**raw, files=files)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ManifestError(f"not a kcdata manifest ({type(exc).__name__}: {str(exc)[:120]})") from None

    def entry(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name or f.file == name), None)

    def same_content(self, other: Manifest) -> bool:
        """Everything but the time and the key: the same version with the same files."""
        return (self.resource_code, self.dataset, self.catalog_version, self.fingerprint, self.rules, self.files) == (
            other.resource_code, other.dataset, other.catalog_version, other.fingerprint, other.rules, other.files
        )


def canonical_json(value: object) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8 (not \\u escapes): one text per value."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def count_rows(path: Path, file_format: str) -> int | None:
    """Data rows of a CSV (header excluded) or Parquet file; None for anything else.

    The same count at signing and at verifying, so an intact file always agrees with its manifest."""
    if file_format == "Parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(str(path)).num_rows
    if file_format == "CSV":
        import csv

        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)  # RFC 4180 records: a quoted newline stays in its row
    return None


def file_entry(name: str, path: Path, file_format: str, sha256: str | None = None, counted: bool = True) -> FileEntry:
    """What the manifest says of one file (rows only when `counted`: a data file)."""
    rows = count_rows(path, file_format) if counted else None
    return FileEntry(name, path.name, file_format, path.stat().st_size, sha256 or sha256_file(path), rows)


def public_pem(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Signed:
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    public_key_pem: bytes

    def write(self, folder: Path) -> dict[str, Path]:
        """manifest.json, manifest.json.sig and signing-key.pem into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for name, data in ((MANIFEST, self.manifest_bytes), (SIGNATURE, self.signature), (PUBLIC_KEY, self.public_key_pem)):
            (folder / name).write_bytes(data)
            out[name] = folder / name
        return out


def sign(manifest: Manifest, key: Ed25519PrivateKey | None = None) -> Signed:
    """Sign with the bureau's key (common.keys.signing_key) unless `key` is given. Ed25519 is
    deterministic: the same manifest and key give the same signature bytes."""
    from common.keys import public_key_fingerprint, signing_key

    key = key or signing_key()
    fingerprint = public_key_fingerprint(key.public_key())
    if manifest.signing_key != fingerprint:
        raise KcdataError("the manifest names another signing key than the one signing it")
    data = manifest.to_bytes()
    return Signed(manifest, data, key.sign(data), public_pem(key.public_key()))


@dataclass
class Verdict:
    """What verifying found: `problems` empty means intact."""

    key_fingerprint: str | None = None
    manifest: Manifest | None = None
    checked: list[str] = field(default_factory=list)  # what was found right, one line each
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_signature(manifest_bytes: bytes, signature: bytes, pem: bytes, expected_key: str | None, verdict: Verdict) -> Manifest | None:
    """The signature over the manifest's exact bytes, by the key beside it (and the pinned one)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from common.keys import public_key_fingerprint

    try:
        public = load_pem_public_key(pem)
    except ValueError:
        verdict.problems.append(f"{PUBLIC_KEY}: not a PEM public key")
        return None
    if not isinstance(public, Ed25519PublicKey):
        verdict.problems.append(f"{PUBLIC_KEY}: not an Ed25519 key")
        return None
    fingerprint = public_key_fingerprint(public)
    verdict.key_fingerprint = fingerprint
    expected = (expected_key or "").strip().lower().replace(":", "")
    if expected and not fingerprint.startswith(expected):
        verdict.problems.append(f"signing key {fingerprint[:16]}… is not the expected key {expected[:16]}…")
    try:
        public.verify(signature, manifest_bytes)
    except InvalidSignature:
        verdict.problems.append(f"{MANIFEST}: signature not valid for this key (the manifest or its signature was changed)")
    else:
        verdict.checked.append(f"{MANIFEST}: signature valid, Ed25519 key {fingerprint[:16]}…")
    try:
        manifest = Manifest.from_bytes(manifest_bytes)
    except ManifestError as exc:
        verdict.problems.append(f"{MANIFEST}: {exc}")
        return None
    if manifest.signing_key != fingerprint:
        verdict.problems.append(f"{MANIFEST} names signing key {manifest.signing_key[:16]}…, but {PUBLIC_KEY} is {fingerprint[:16]}…")
    return manifest


def check_files(manifest: Manifest, found: dict[str, Path | None], verdict: Verdict) -> None:
    """Each entry named in `found` (portal name -> file on disk, None when absent) against the
    manifest: present, size, SHA-256 and, for data files, rows; a file holding another entry's
    content is called a swap."""
    by_hash = {f.sha256: f for f in manifest.files}
    for entry in manifest.files:
        if entry.name not in found:
            continue
        path = found[entry.name]
        if path is None or not path.is_file():
            verdict.problems.append(f"{entry.name}: missing")
            continue
        digest = sha256_file(path)
        if digest == entry.sha256:
            counted = f", {entry.rows:,} rows" if entry.rows is not None else ""
            verdict.checked.append(f"{entry.name}: intact ({entry.size:,} bytes{counted}, SHA-256 {digest[:12]}…)")
            continue
        other = by_hash.get(digest)
        if other is not None:
            verdict.problems.append(f"file {entry.name} has the content of {other.name}")
            continue
        size = path.stat().st_size
        if size != entry.size:
            verdict.problems.append(f"{entry.name}: {size:,} bytes, manifest says {entry.size:,}")
        verdict.problems.append(f"{entry.name}: SHA-256 differs (expected {entry.sha256[:12]}…, got {digest[:12]}…)")
        if entry.rows is not None:
            try:
                rows = count_rows(path, entry.format)
            except Exception as exc:  # noqa: BLE001 - a damaged file may not parse at all: say so
                verdict.problems.append(f"{entry.name}: rows cannot be counted ({type(exc).__name__})")
            else:
                if rows != entry.rows:
                    verdict.problems.append(f"{entry.name}: {rows:,} rows, manifest says {entry.rows:,}")


def verify_folder(folder: Path, expected_key: str | None = None, only: list[Path] | None = None) -> Verdict:
    """Verify the manifest in `folder` and the files beside it (matched by file or portal name);
    with `only`, just those files (a single download)."""
    verdict = Verdict()
    missing = [n for n in SIGNED_FILES if not (folder / n).is_file()]
    if missing:
        verdict.problems.append(f"{', '.join(missing)} not found in {folder}")
        return verdict
    manifest = check_signature(
        (folder / MANIFEST).read_bytes(), (folder / SIGNATURE).read_bytes(), (folder / PUBLIC_KEY).read_bytes(),
        expected_key, verdict,
    )
    if manifest is None:
        return verdict
    verdict.manifest = manifest
    if only:
        found: dict[str, Path | None] = {}
        for path in only:
            entry = manifest.entry(path.name)
            if entry is None:
                verdict.problems.append(f"{path.name}: not listed in the manifest")
            else:
                found[entry.name] = path
    else:
        found = {f.name: _beside(folder, f) for f in manifest.files}
    check_files(manifest, found, verdict)
    return verdict


def _beside(folder: Path, entry: FileEntry) -> Path | None:
    """The entry's file in `folder`, under its file name or its portal name."""
    for candidate in (folder / entry.file, folder / entry.name):
        if candidate.is_file():
            return candidate
    return None
