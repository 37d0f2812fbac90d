"""Signed manifests and `kcdata verify`: an intact download passes; one changed byte, one dropped
row, a swapped file, a signature by another key or an unexpected key fails, naming the reason."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from typer.testing import CliRunner

from common.keys import SIGNING_KEY, public_key_fingerprint
from portal.fetch import parse_ref
from portal.manifest import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    Manifest,
    canonical_json,
    file_entry,
    sign,
    verify_folder,
)

ROWS = 50


def _data_files(folder: Path) -> list[tuple[str, Path, str]]:
    """A small published version: CSV (BOM, a cell with a line break), Parquet, dictionary."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT i AS id, '机构' || i AS name, CASE WHEN i = 3 THEN 'two\nlines' ELSE 'x' END AS note "
                f"FROM range({ROWS}) r(i)")
    body = folder / "body.csv"
    con.execute(f"COPY t TO '{body}' (FORMAT csv, HEADER true)")
    (folder / "clinics.csv").write_bytes(b"\xef\xbb\xbf" + body.read_bytes())
    body.unlink()
    con.execute(f"COPY t TO '{folder / 'clinics.parquet'}' (FORMAT parquet)")
    (folder / "clinics_data_dictionary.csv").write_text("信息项名称 item,字段 column\n机构名称,name\n", encoding="utf-8-sig")
    return [("data.csv", folder / "clinics.csv", "CSV"), ("data.parquet", folder / "clinics.parquet", "Parquet"),
            ("data-dictionary.csv", folder / "clinics_data_dictionary.csv", "CSV")]


def _manifest(files, key: Ed25519PrivateKey, created_at: str = "2026-03-01T08:00:00Z") -> Manifest:
    return Manifest(
        resource_code="KC-WSJK-001", dataset="kc-wsjk-001", catalog_version=3, fingerprint="ab" * 32, rules="1234abcd",
        created_at=created_at, signing_key=public_key_fingerprint(key.public_key()),
        files=[file_entry(name, path, fmt, counted=name != "data-dictionary.csv") for name, path, fmt in files],
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def download(tmp_path, key) -> Path:
    """A folder as a user has it after downloading a dataset: files and the signed manifest."""
    folder = tmp_path / "download"
    sign(_manifest(_data_files(folder), key), key).write(folder)
    return folder


def test_an_intact_download_verifies(download, key):
    verdict = verify_folder(download, expected_key=public_key_fingerprint(key.public_key()))
    assert verdict.ok, verdict.problems
    assert verdict.manifest.files[0].rows == ROWS and verdict.manifest.files[1].rows == ROWS
    assert verdict.manifest.files[2].rows is None  # the dictionary has no data rows
    assert [line.split(":")[0] for line in verdict.checked] == [MANIFEST, "data.csv", "data.parquet", "data-dictionary.csv"]


def test_openssl_verifies_the_published_files_with_the_documented_command(download):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of the base system"
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", PUBLIC_KEY, "-rawin", "-in", MANIFEST, "-sigfile", SIGNATURE]
    ok = subprocess.run(command, cwd=download, capture_output=True, text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout
    (download / MANIFEST).write_bytes((download / MANIFEST).read_bytes().replace(b'"catalog_version":3', b'"catalog_version":4'))
    assert subprocess.run(command, cwd=download, capture_output=True).returncode != 0


def test_one_changed_byte_is_named_with_both_hashes(download):
    manifest = Manifest.from_bytes((download / MANIFEST).read_bytes())
    data = bytearray((download / "clinics.csv").read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    (download / "clinics.csv").write_bytes(bytes(data))
    verdict = verify_folder(download)
    expected = manifest.entry("data.csv").sha256
    got = hashlib.sha256(bytes(data)).hexdigest()
    assert verdict.problems == [f"data.csv: SHA-256 differs (expected {expected[:12]}…, got {got[:12]}…)"]


def test_one_dropped_row_is_named_with_the_row_counts(download):
    lines = (download / "clinics.csv").read_bytes().splitlines(keepends=True)
    (download / "clinics.csv").write_bytes(b"".join(lines[:-1]))
    problems = verify_folder(download).problems
    assert f"data.csv: {ROWS - 1:,} rows, manifest says {ROWS:,}" in problems
    assert any(p.startswith("data.csv: SHA-256 differs") for p in problems)
    assert any(p.startswith("data.csv: ") and "bytes, manifest says" in p for p in problems)


def test_a_swapped_file_is_named(download):
    csv, parquet = (download / "clinics.csv").read_bytes(), (download / "clinics.parquet").read_bytes()
    (download / "clinics.csv").write_bytes(parquet)
    (download / "clinics.parquet").write_bytes(csv)
    assert verify_folder(download).problems == [
        "file data.csv has the content of data.parquet", "file data.parquet has the content of data.csv",
    ]


def test_a_missing_file_is_named(download):
    (download / "clinics.parquet").unlink()
    assert verify_folder(download).problems == ["data.parquet: missing"]


def test_a_signature_by_another_key_fails(download):
    other = Ed25519PrivateKey.generate()
    (download / SIGNATURE).write_bytes(other.sign((download / MANIFEST).read_bytes()))
    assert verify_folder(download).problems == [
        f"{MANIFEST}: signature not valid for this key (the manifest or its signature was changed)"
    ]


def test_a_changed_manifest_fails_its_signature(download):
    raw = json.loads((download / MANIFEST).read_bytes())
    raw["files"][0]["rows"] = ROWS - 1
    (download / MANIFEST).write_bytes(canonical_json(raw))
    problems = verify_folder(download).problems
    assert problems[0].startswith(f"{MANIFEST}: signature not valid")


def test_a_manifest_re_signed_by_someone_else_fails_only_when_the_key_is_pinned(tmp_path, download, key):
    """Whoever replaces files, manifest, signature and key together passes a self-check; the
    fingerprint the bureau states is what catches it."""
    forger = Ed25519PrivateKey.generate()
    data = (download / "clinics.csv").read_bytes().replace("机构7".encode(), "机构8".encode())
    (download / "clinics.csv").write_bytes(data)
    forged = _manifest([("data.csv", download / "clinics.csv", "CSV"), ("data.parquet", download / "clinics.parquet", "Parquet"),
                        ("data-dictionary.csv", download / "clinics_data_dictionary.csv", "CSV")], forger)
    sign(forged, forger).write(download)
    assert verify_folder(download).ok
    bureau = public_key_fingerprint(key.public_key())
    forger_fp = public_key_fingerprint(forger.public_key())
    assert verify_folder(download, expected_key=bureau).problems == [
        f"signing key {forger_fp[:16]}… is not the expected key {bureau[:16]}…"
    ]


def test_a_key_beside_the_manifest_that_the_manifest_does_not_name_fails(download):
    other = Ed25519PrivateKey.generate()
    from portal.manifest import public_pem

    (download / PUBLIC_KEY).write_bytes(public_pem(other.public_key()))
    (download / SIGNATURE).write_bytes(other.sign((download / MANIFEST).read_bytes()))
    problems = verify_folder(download).problems
    assert len(problems) == 1 and problems[0].startswith(f"{MANIFEST} names signing key ")


def test_canonical_json_is_stable_and_signing_is_deterministic(tmp_path, key):
    assert canonical_json({"b": 1, "a": "张三", "c": [1, None]}) == '{"a":"张三","b":1,"c":[1,null]}'.encode()
    manifest = _manifest(_data_files(tmp_path), key)
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest
    assert Manifest.from_bytes(manifest.to_bytes()).to_bytes() == manifest.to_bytes()
    assert sign(manifest, key).signature == sign(manifest, key).signature  # Ed25519 (RFC 8032) is deterministic
    keys = json.loads(manifest.to_bytes())
    assert set(keys) == {"resource_code", "dataset", "catalog_version", "fingerprint", "rules", "created_at", "signing_key",
                         "files", "algorithm", "format"}
    assert set(keys["files"][0]) == {"name", "file", "format", "size", "sha256", "rows"}
    assert keys["algorithm"] == "Ed25519"


def test_the_command_line(download, key):
    from kcdata.cli import app

    runner = CliRunner()
    fingerprint = public_key_fingerprint(key.public_key())
    ok = runner.invoke(app, ["verify", str(download), "--key-fingerprint", fingerprint])
    assert ok.exit_code == 0, ok.output
    assert "verified: KC-WSJK-001 version 3 is intact (3 file(s) match the signed manifest" in ok.output
    single = runner.invoke(app, ["verify", str(download / "clinics.parquet")])
    assert single.exit_code == 0 and "(1 file(s) match" in single.output and "data.csv" not in single.output
    wrong = runner.invoke(app, ["verify", str(download), "--key-fingerprint", "00" * 32])
    assert wrong.exit_code == 1 and "is not the expected key 0000000000000000…" in wrong.output
    (download / "clinics_data_dictionary.csv").write_text("changed\n", encoding="utf-8")
    bad = runner.invoke(app, ["verify", str(download)])
    assert bad.exit_code == 1
    assert "data-dictionary.csv: SHA-256 differs" in bad.output and "NOT verified: KC-WSJK-001 version 3: 2 problem(s)" in bad.output
    nothing = runner.invoke(app, ["verify", str(download.parent / "nowhere")])
    assert nothing.exit_code == 1 and "Traceback" not in nothing.output


def test_dataset_references():
    assert parse_ref("http://127.0.0.1:5000/dataset/kc-wsjk-001") == parse_ref("kc-wsjk-001", "http://127.0.0.1:5000/")
    ref = parse_ref("https://data.example/portal/api/3/action/package_show?id=kc-wsjk-001")
    assert (ref.base, ref.dataset) == ("https://data.example/portal", "kc-wsjk-001")
    assert parse_ref("https://data.example/dataset/kc-wsjk-001.jsonld").dataset == "kc-wsjk-001"


def test_republishing_the_same_files_signs_the_same_bytes(tmp_path, lake, monkeypatch, key):
    """The manifest's time is that of the version's first signing (kept in the lake), so signing
    again gives identical bytes (and the portal nothing to update); changed files get a new time."""
    from catalog.entries import get_resource
    from portal import publisher
    from portal.files import PublishedFile

    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    monkeypatch.setenv(SIGNING_KEY, base64.b64encode(raw).decode())
    resource = get_resource("KC-WSJK-001")
    latest = SimpleNamespace(version=1, fingerprint="cd" * 32, rules="0000ffff")
    from common.checksums import sha256_file

    files = [PublishedFile(n, p, f, "", sha256_file(p)) for n, p, f in _data_files(tmp_path / "v")]
    monkeypatch.setattr(publisher, "utc_now", lambda: "2026-03-01T08:00:00Z")
    first, published = publisher.sign_version(resource, latest, files, tmp_path / "s1", lake)
    assert [f.name for f in published] == [MANIFEST, SIGNATURE, PUBLIC_KEY]
    publisher.record_manifest(first, resource, latest, lake)
    monkeypatch.setattr(publisher, "utc_now", lambda: "2026-04-01T08:00:00Z")
    again, republished = publisher.sign_version(resource, latest, files, tmp_path / "s2", lake)
    assert again.manifest_bytes == first.manifest_bytes and again.signature == first.signature
    assert [f.sha256 for f in republished] == [f.sha256 for f in published]
    (tmp_path / "v" / "clinics_data_dictionary.csv").write_text("changed\n", encoding="utf-8")
    files[2] = PublishedFile(files[2].name, files[2].path, "CSV", "", sha256_file(files[2].path))
    changed, _ = publisher.sign_version(resource, latest, files, tmp_path / "s3", lake)
    assert changed.manifest.created_at == "2026-04-01T08:00:00Z"
