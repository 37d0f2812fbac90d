"""Encryption at rest: personal items are ciphertext in raw, validated and quarantine without the
master key; the pipeline reads them with it; `kcdata keys rotate` re-wraps the data keys so the
new key opens every file and the old one none; a wrong or missing key says so and loses nothing.

Real pyarrow, DuckDB, GX and dbt on a tmp lake with its own keys file; the talent registry
(KC-RLZY-001: name, ID number, gender, birth date, mobile are personal) is landed and validated
in-process from generated sample data.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.model import Sensitivity
from common import key_rotation
from common.keys import MASTER_KEY, MissingKey, ensure_keys_file, key_id, read_keys_file
from common.lake import Zone
from common.lake_crypto import (
    WrongKey,
    encrypted_files,
    is_encrypted,
    key_material_file,
    parquet_writer,
    read_table,
    wrapper_ids,
)
from common.settings import get_paths
from expectations.report import MASKED_NOTE
from expectations.validate import validate_batch
from flow.pipeline import land_and_validate, land_inbox
from kcdata.cli import app
from samples.generate import generate_resource
from transform.runner import run_dbt

TALENTS = get_resource("KC-RLZY-001")
PERSONAL = [i.code for i in TALENTS.source_items if i.personal]
PUBLIC = ["talent_id", "education", "talent_category"]
ZONES = (Zone.raw, Zone.validated, Zone.quarantine)


def _lake_env(mp: pytest.MonkeyPatch, root: Path) -> Path:
    """A lake, an inbox and a keys file of its own under `root`."""
    keys = root / "keys.env"
    ensure_keys_file(keys)
    mp.setenv("KCDATA_LAKE", str(root / "lake"))
    mp.setenv("KCDATA_INBOX", str(root / "inbox"))
    mp.setenv("KCDATA_KEYS_FILE", str(keys))
    mp.delenv(MASTER_KEY, raising=False)
    mp.delenv("KCDATA_CATALOG_URL", raising=False)
    return keys


@pytest.fixture(scope="module")
def talents(tmp_path_factory):
    """The talent registry landed and validated (a few bad rows, so the quarantine has some)."""
    root = tmp_path_factory.mktemp("encrypted")
    with pytest.MonkeyPatch.context() as mp:
        keys = _lake_env(mp, root)
        sample = generate_resource(TALENTS, root / "samples", rows=1500, bad_share=0.02, seed=11)
        result = land_and_validate(TALENTS, sample.path)
        yield {"root": root, "keys": keys, "result": result, "sample": sample, "mp": mp}


def _files(result) -> dict[Zone, Path]:
    return {
        Zone.raw: Path(result.landed.raw_path),
        Zone.validated: Path(result.outcome.validated_path),
        Zone.quarantine: Path(result.outcome.quarantine_path),
    }


def _old_master(keys: Path) -> str:
    return read_keys_file(keys)[MASTER_KEY]


# --------------------------------------------------------------------------- ciphertext without the key


@pytest.mark.parametrize("zone", ZONES, ids=[z.value for z in ZONES])
def test_personal_columns_cannot_be_read_without_the_key(talents, zone):
    path = _files(talents["result"])[zone]
    assert is_encrypted(path), f"{zone.value}: no key material beside {path.name}"
    with pytest.raises(OSError):
        pq.read_table(path)  # pyarrow without decryption properties
    with pytest.raises(duckdb.Error):
        duckdb.sql(f"SELECT full_name FROM read_parquet('{path}')").fetchall()
    # the footer is plaintext: schema, row count and the other columns are readable by any tool
    public = [c for c in ("_row", "talent_id") if c in pq.read_schema(path).names]
    assert duckdb.sql(f"SELECT count({public[-1]}) FROM read_parquet('{path}')").fetchall()[0][0] == pq.read_metadata(path).num_rows


def test_with_the_key_every_row_is_there_as_sent(talents):
    files = _files(talents["result"])
    raw = read_table(files[Zone.raw]).to_pylist()
    validated = read_table(files[Zone.validated]).to_pylist()
    quarantined = read_table(files[Zone.quarantine]).to_pylist()
    assert len(validated) + len(quarantined) == len(raw) == talents["sample"].rows
    by_row = {r["_row"]: r for r in raw}
    for row in validated[:50]:
        assert row["full_name"] == by_row[row["_row"]]["full_name"]
        assert row["mobile"] == by_row[row["_row"]]["mobile"]
    assert any(r["id_card_no"] for r in quarantined), "quarantine keeps the values as sent, decrypted with the key"


def test_a_resource_without_personal_items_stays_plain(talents, tmp_path):
    resource = get_resource("KC-STHJ-001")
    assert not any(i.personal for i in resource.items)
    sample = generate_resource(resource, tmp_path, rows=300, bad_share=0.0, seed=3)
    result = land_and_validate(resource, sample.path)
    for path in _files(result).values():
        assert not is_encrypted(path)
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0] == pq.read_metadata(path).num_rows


def test_the_departments_quarantine_download_shows_the_values_as_sent(talents):
    """The department's own CSV of quarantined rows (catalog web) reads the quarantine with the key."""
    from catalog.store import open_store
    from web.routes.department import _quarantine_lines

    version = open_store().latest_version(TALENTS.code)
    header, lines = _quarantine_lines(TALENTS, version)
    quarantined = {r["_row"]: r for r in read_table(Path(version.quarantine_path)).to_pylist()}
    name = header.index(TALENTS.item("full_name").name)
    rows = [line for line in lines if line[0]]
    assert len(rows) == len(quarantined) > 0
    assert all(line[name] == quarantined[line[0]]["full_name"] for line in rows)


# --------------------------------------------------------------------------- what stays outside the lake


def test_feedback_csv_masks_personal_values(talents):
    raw = read_table(Path(talents["result"].landed.raw_path)).to_pylist()
    personal_values = {r[c] for r in raw for c in PERSONAL if r.get(c) and len(r[c]) >= 4}
    path = Path(talents["result"].outcome.feedback_path)
    text = path.read_text(encoding="utf-8-sig")
    lines = list(csv.DictReader(text.splitlines()))
    masked = [line for line in lines if line["列代码"] in PERSONAL and line["提交的值"]]
    assert masked, "the sample has bad personal cells"
    assert all(line["提交的值"].endswith(MASKED_NOTE) for line in masked)
    assert all(line["提交的值"] for line in lines if line["列代码"] == "talent_id" and line["问题代码"] == "duplicate-key")
    leaked = [v for v in personal_values if v in text]
    assert not leaked, f"{len(leaked)} personal values in plain text in feedback.csv"


def test_gx_validation_results_hold_no_personal_values(talents):
    raw = read_table(Path(talents["result"].landed.raw_path)).to_pylist()
    personal_values = {r[c] for r in raw for c in PERSONAL if r.get(c) and len(r[c]) >= 4}
    results = list((get_paths().gx_root).rglob(f"validations/{TALENTS.code}/**/*.json"))
    assert results, "GX stored its validation results"
    for path in results:
        text = path.read_text(encoding="utf-8")
        assert "unexpected_list" not in text
        assert not [v for v in personal_values if v in text], f"personal values in {path.name}"


# --------------------------------------------------------------------------- dbt reads with the key


def test_dbt_builds_the_same_current_rows_as_without_encryption(talents, tmp_path):
    """The same delivery through a lake where nothing is personal (plain Parquet) gives the same
    curated rows as through the encrypted lake (dbt's plugin decrypts in memory)."""
    run_dbt(select="stg_talent_registry")
    encrypted = get_paths().current_file(TALENTS.table)
    plain_catalog = TALENTS.model_copy(
        update={"items": [i.model_copy(update={"sensitivity": Sensitivity.public}) for i in TALENTS.items]}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
        result = land_and_validate(plain_catalog, talents["sample"].path)
        assert not is_encrypted(Path(result.outcome.validated_path))
        run_dbt(select="stg_talent_registry")
        plain = get_paths().current_file(TALENTS.table)
        assert plain != encrypted
    query = "SELECT * EXCLUDE (_loaded_at) FROM read_parquet('{}') ORDER BY talent_id"
    got, want = duckdb.sql(query.format(encrypted)).fetchall(), duckdb.sql(query.format(plain)).fetchall()
    assert len(got) == talents["result"].outcome.accepted
    assert got == want


# --------------------------------------------------------------------------- wrong and missing keys


def test_a_wrong_key_names_the_file_and_both_keys(talents, monkeypatch):
    path = Path(talents["result"].outcome.validated_path)
    (wrapper,) = wrapper_ids(path)
    wrong = os.urandom(32)
    monkeypatch.setenv(MASTER_KEY, base64.b64encode(wrong).decode())
    with pytest.raises(WrongKey) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"the data keys of {path} were wrapped by master key {wrapper}; the configured key is {key_id(wrong)}"
    )


def test_a_missing_key_fails_landing_and_the_delivery_stays_in_the_inbox(talents, monkeypatch, tmp_path):
    paths = get_paths()
    sample = generate_resource(TALENTS, paths.inbox, rows=200, bad_share=0.0, seed=99)
    monkeypatch.setenv("KCDATA_KEYS_FILE", str(tmp_path / "no-such-keys.env"))
    with pytest.raises(MissingKey) as caught:
        land_inbox(TALENTS, paths)
    message = str(caught.value)
    assert str(sample.path) in message and MASTER_KEY in message
    assert sample.path.exists(), "the delivery is neither archived nor removed"
    table_dir = paths.table_dir(Zone.raw, TALENTS.table)
    assert sorted(p.name for p in table_dir.iterdir()) == [Path(talents["result"].landed.raw_path).parent.name]
    # with the key it lands on the next pass
    monkeypatch.setenv("KCDATA_KEYS_FILE", str(talents["keys"]))
    report = land_inbox(TALENTS, paths)
    assert [b.rows for b in report.landed] == [200] and not sample.path.exists()


def test_a_missing_key_fails_validation_and_writes_nothing(talents, monkeypatch, tmp_path):
    paths = get_paths()
    fingerprint = talents["result"].landed.fingerprint
    other_rules = TALENTS.model_copy(update={"max_bad_share": 0.5})  # other rules: validated anew
    monkeypatch.setenv("KCDATA_KEYS_FILE", str(tmp_path / "no-such-keys.env"))
    before = {z: sorted(p.name for p in paths.table_dir(z, TALENTS.table).iterdir()) for z in (Zone.validated, Zone.quarantine)}
    with pytest.raises(MissingKey) as caught:
        validate_batch(other_rules, fingerprint, paths)
    assert talents["result"].landed.raw_path in str(caught.value) and MASTER_KEY in str(caught.value)
    after = {z: sorted(p.name for p in paths.table_dir(z, TALENTS.table).iterdir()) for z in (Zone.validated, Zone.quarantine)}
    assert after == before


# --------------------------------------------------------------------------- rotation


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rotation_rewraps_the_keys_and_the_old_key_opens_nothing(talents, monkeypatch):
    paths = get_paths()
    keys = talents["keys"]
    old = _old_master(keys)
    files = encrypted_files([paths.raw, paths.validated, paths.quarantine])
    assert len(files) >= 3
    data_before = {f: _digest(f) for f in files}
    material_before = {f: key_material_file(f).read_text() for f in files}

    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = _old_master(keys)
    assert new != old
    assert f"{len(files)} file(s) re-wrapped" in " ".join(result.output.split())
    assert old not in result.output and new not in result.output
    assert (keys.stat().st_mode & 0o777) == 0o600
    assert set(read_keys_file(keys)) == {"KCDATA_MASTER_KEY", "KCDATA_PSEUDONYM_KEY", "KCDATA_SIGNING_KEY"}

    new_id = key_id(base64.b64decode(new))
    for f in files:
        assert _digest(f) == data_before[f], f"{f} was rewritten"
        assert key_material_file(f).read_text() != material_before[f]
        assert wrapper_ids(f) == {new_id}
        assert read_table(f).num_rows == pq.read_metadata(f).num_rows  # the new key (keys file) opens it
    monkeypatch.setenv(MASTER_KEY, old)
    for f in files:
        with pytest.raises(WrongKey, match="were wrapped by master key"):
            read_table(f)


def test_files_written_during_a_rotation_are_rewrapped_too(talents, monkeypatch):
    """A process that read the old key just before the switch writes a file with it: the sweep
    after the switch re-wraps it."""
    import pyarrow as pa

    paths = get_paths()
    late = paths.batch_file(Zone.raw, "late_writer", "f" * 64)
    switch = key_rotation._update

    def write_then_switch(path, set_=None, drop=()):
        if set_ and MASTER_KEY in set_ and not late.exists():
            late.parent.mkdir(parents=True)
            table = pa.table({"_row": [1], "full_name": ["王小明"]})
            with parquet_writer(late, table.schema, ["full_name"]) as writer:
                writer.write_table(table)
        switch(path, set_, drop)

    monkeypatch.setattr(key_rotation, "_update", write_then_switch)
    old_id = key_id(base64.b64decode(_old_master(talents["keys"])))
    rotation = key_rotation.rotate_master_key(paths)
    assert rotation.old_id == old_id and rotation.swept == 1
    assert wrapper_ids(late) == {rotation.new_id}
    assert read_table(late).to_pylist() == [{"_row": 1, "full_name": "王小明"}]


def test_rotation_refuses_a_master_key_from_the_environment(talents, monkeypatch):
    monkeypatch.setenv(MASTER_KEY, _old_master(talents["keys"]))
    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 1
    assert "KCDATA_MASTER_KEY is set in the environment" in " ".join(result.output.split())


def test_signing_key_rotation_and_status_name_keys_without_values(talents):
    keys = talents["keys"]
    before = read_keys_file(keys)
    result = CliRunner().invoke(app, ["keys", "rotate", "--signing"])
    assert result.exit_code == 0, result.output
    after = read_keys_file(keys)
    assert after["KCDATA_SIGNING_KEY"] != before["KCDATA_SIGNING_KEY"]
    assert after[MASTER_KEY] == before[MASTER_KEY]
    status = CliRunner().invoke(app, ["keys", "status"])
    assert status.exit_code == 0, status.output
    flat = " ".join(status.output.split())
    assert key_id(base64.b64decode(after[MASTER_KEY])) in flat
    assert "encrypted files in the lake" in flat
    for value in (*after.values(), *before.values()):
        assert value not in status.output and value not in result.output


def _make_keys(path: Path, start, out) -> None:  # a process: wait for the others, then make the keys file
    start.wait()
    try:
        ensure_keys_file(path)
        out.put(read_keys_file(path))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(repr(exc))


def test_processes_starting_at_once_on_a_fresh_machine_share_one_set_of_keys(tmp_path):
    """`kcdata up` and a `kcdata ingest` started together on a fresh machine both make the keys
    file: neither may fail, and both must end with the same keys."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    keys, start, out = tmp_path / "keys.env", ctx.Barrier(8), ctx.Queue()
    workers = [ctx.Process(target=_make_keys, args=(keys, start, out)) for _ in range(8)]
    for w in workers:
        w.start()
    seen = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert all(s == read_keys_file(keys) for s in seen), seen
