"""A unique item that is not the key is unique over the whole delivery, not per validation chunk.

On the pandas engine GX validates a large delivery in chunks cut by a hash of the key, so
duplicates of the key always meet; an ID number shared by rows in different chunks must be caught
as well. Chunks of 100 rows stand in for the 1M-row chunks of a real delivery. On the DuckDB engine
(the default) GX sees the whole delivery at once; the same rows must be quarantined.
"""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from catalog.entries import get_resource
from common.lake_crypto import duckdb_source
from flow.pipeline import land_and_validate
from samples.generate import generate_resource

TALENTS = "KC-RLZY-001"  # key talent_id; 公民身份号码 (id_card_no) unique, sensitive personal


def _share_one_id_card(resource, file: Path, rows: int) -> list[str]:
    """Give the first `rows` data rows the same ID number; returns their talent ids."""
    id_col, key_col = resource.item("id_card_no").name, resource.item("talent_id").name
    with file.open(encoding=resource.source.encoding, newline="") as fh:
        lines = list(csv.reader(fh))
    header = lines[0]
    shared = lines[1][header.index(id_col)]
    for line in lines[1:rows + 1]:
        line[header.index(id_col)] = shared
    with file.open("w", encoding=resource.source.encoding, newline="") as fh:
        csv.writer(fh).writerows(lines)
    return [line[header.index(key_col)] for line in lines[1:rows + 1]]


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_rows_sharing_a_unique_item_in_different_chunks_are_all_quarantined(lake, tmp_path, monkeypatch, engine):
    monkeypatch.setenv("KCDATA_GX_ENGINE", engine)
    monkeypatch.setenv("KCDATA_VALIDATE_CHUNK_ROWS", "100")  # 400 rows: four chunks
    resource = get_resource(TALENTS)
    sample = generate_resource(resource, tmp_path / "delivery", rows=400, bad_share=0.0, seed=11)
    planted = _share_one_id_card(resource, sample.path, rows=9)

    outcome = land_and_validate(resource, sample.path).outcome
    con = duckdb.connect()
    quarantine = duckdb_source(con, Path(outcome.quarantine_path), "quarantine")
    found = con.sql(
        f"""SELECT talent_id FROM {quarantine}
            WHERE len([r FOR r IN _reasons IF r.rule = 'duplicate-key' AND r."column" = 'id_card_no']) > 0"""
    ).fetchall()
    chunks = con.sql(
        f"SELECT count(DISTINCT hash(talent_id) % 4) FROM (SELECT unnest({planted!r}::VARCHAR[]) AS talent_id)"
    ).fetchall()[0][0]
    assert chunks > 1, "the planted rows must fall into more than one chunk for this test to mean anything"
    assert sorted(t for (t,) in found) == sorted(planted)
    assert outcome.quarantined == len(planted) and outcome.accepted == 400 - len(planted)
