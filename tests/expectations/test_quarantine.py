"""Every bad-row kind departments produce reaches quarantine with the right reason; nothing is lost.

Sample files are generated with a ground-truth manifest of the rows that were spoiled and how,
then landed and validated for real (connector + GX + DuckDB split) without Airflow.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from catalog.entries import get_resource
from common.lake_crypto import duckdb_source
from flow.pipeline import land_and_validate
from samples.generate import generate_resource

KIND_RULE = {
    "missing_required": "missing-value",
    "bad_uscc_check": "uscc-check",
    "out_of_range": "out-of-range",
    "mixed_date": "date-format",
    "duplicate_key": "duplicate-key",
    "full_width_digits": "full-width",
}
TRIMMED = "stray_whitespace"  # trimmed by default and reported as a warning, not quarantined
# Between them these cover every kind, every file format and every encoding.
RESOURCES = ["KC-SCJG-001", "KC-STHJ-001", "KC-YJGL-001", "KC-CSGL-001", "KC-RLZY-001"]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("quarantine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(root / "lake"))
        mp.setenv("KCDATA_INBOX", str(root / "inbox"))
        out = {}
        for code in RESOURCES:
            resource = get_resource(code)
            sample = generate_resource(resource, root / "inbox", rows=2500, bad_share=0.06, seed=7)
            result = land_and_validate(resource, sample.path)
            out[code] = {"sample": sample, "result": result}
        yield out


def _sql(query: str) -> list[tuple]:
    return duckdb.sql(query).fetchall()


def _reasons_of_spoiled_rows(entry: dict) -> list[tuple]:
    """(row, kind, column, rules found for that column in quarantine) for every manifest row."""
    manifest = entry["sample"].manifest
    con = duckdb.connect()
    quarantine = duckdb_source(con, Path(entry["result"].outcome.quarantine_path), "quarantine")  # decrypts _reasons
    return con.sql(
        f"""
        SELECT m.row, m.kind, m."column",
               coalesce(list_sort(list_distinct(
                   [x.rule FOR x IN q._reasons IF x."column" = m."column" OR m.kind = 'duplicate_key'])), [])
        FROM read_parquet('{manifest}') m
        LEFT JOIN {quarantine} q ON q._row = m.row
        ORDER BY m.row
        """
    ).fetchall()


@pytest.mark.parametrize("kind", sorted(KIND_RULE))
def test_each_bad_row_kind_is_quarantined_with_its_reason(ingested, kind):
    seen = 0
    for code, entry in ingested.items():
        for row, k, column, rules in _reasons_of_spoiled_rows(entry):
            if k != kind:
                continue
            seen += 1
            assert KIND_RULE[kind] in rules, f"{code} row {row} ({kind} in {column}) quarantined with {rules}"
    assert seen > 0, f"no {kind} rows were generated"


def test_stray_whitespace_is_trimmed_counted_per_column_and_not_quarantined(ingested):
    seen = 0
    for code, entry in ingested.items():
        outcome = entry["result"].outcome
        spoiled = _sql(f"""SELECT "column", count(*) FROM read_parquet('{entry["sample"].manifest}')
                           WHERE kind = '{TRIMMED}' GROUP BY 1""")
        trimmed = {d["column"]: d["count"] for d in outcome.delivery_problems if d["code"] == "trimmed-whitespace"}
        assert trimmed == dict(spoiled), code
        quarantined = {row for row, kind, _, rules in _reasons_of_spoiled_rows(entry) if kind == TRIMMED and rules}
        assert quarantined == set(), f"{code}: rows quarantined only for whitespace"
        seen += sum(n for _, n in spoiled)
    assert seen > 0, "no stray whitespace was generated"


@pytest.mark.parametrize("code", RESOURCES)
def test_accepted_plus_quarantined_equals_generated(ingested, code):
    entry = ingested[code]
    outcome = entry["result"].outcome
    assert outcome.rows == entry["sample"].rows
    validated = _sql(f"SELECT count(*) FROM read_parquet('{outcome.validated_path}', hive_partitioning=false)")[0][0]
    quarantined = _sql(f"SELECT count(*) FROM read_parquet('{outcome.quarantine_path}', hive_partitioning=false)")[0][0]
    assert validated + quarantined == entry["sample"].rows
    rows = _sql(
        f"""SELECT count(DISTINCT _row) FROM (
              SELECT _row FROM read_parquet('{outcome.validated_path}', hive_partitioning=false)
              UNION ALL SELECT _row FROM read_parquet('{outcome.quarantine_path}', hive_partitioning=false))"""
    )[0][0]
    assert rows == entry["sample"].rows  # each input row exactly once


@pytest.mark.parametrize("code", RESOURCES)
def test_clean_rows_are_never_quarantined(ingested, code):
    entry = ingested[code]
    wrongly = _sql(
        f"""SELECT q._row, q._reason FROM read_parquet('{entry["result"].outcome.quarantine_path}', hive_partitioning=false) q
            ANTI JOIN (SELECT * FROM read_parquet('{entry["sample"].manifest}') WHERE kind <> '{TRIMMED}') m
            ON m.row = q._row LIMIT 5"""
    )
    assert wrongly == []


def test_department_feedback_names_row_column_value_and_problem(ingested):
    outcome = ingested["KC-SCJG-001"]["result"].outcome
    lines = Path(outcome.feedback_path).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == '"行号","信息项","列代码","提交的值","问题代码","问题说明","description"'
    assert any('"uscc-check","统一社会信用代码校验码错误' in line for line in lines[1:])
    assert len(lines) - 1 >= outcome.quarantined


def test_revalidating_the_same_batch_changes_nothing(ingested):
    entry = ingested["KC-STHJ-001"]
    resource = get_resource("KC-STHJ-001")
    before = entry["result"]
    with pytest.MonkeyPatch.context() as mp:
        lake = Path(before.outcome.validated_path).parents[3]
        mp.setenv("KCDATA_LAKE", str(lake))
        again = land_and_validate(resource, entry["sample"].path)
    assert again.landed.skipped and again.outcome.skipped
    assert again.version == before.version
    assert again.outcome.accepted == before.outcome.accepted
