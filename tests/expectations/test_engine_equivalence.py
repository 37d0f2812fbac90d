"""GX on DuckDB SQL (the default engine) quarantines exactly what GX on pandas does.

The same landed delivery is validated on both engines: the quarantined rows, each row's rules and
columns, the counts per rule and the verdict must be equal, for a generated sample of every catalog
resource (with bad rows of every kind the generator makes) and for every landed case of the
broken-delivery corpus (tests/deliveries/corpus.py).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from catalog.entries import get_resource, load_catalog
from common.lake import Zone
from common.lake_crypto import duckdb_source
from connectors.file_drop import land_file
from expectations.validate import validate_batch
from samples.generate import generate_resource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deliveries"))
from corpus import LANDED  # noqa: E402  (tests/deliveries/corpus.py)


def _quarantined(outcome) -> set[tuple[int, str, str]]:
    """(row, rule, column) of every reason of every quarantined row."""
    con = duckdb.connect()
    source = duckdb_source(con, Path(outcome.quarantine_path), "quarantine")
    rows = con.sql(f'SELECT _row, x.rule, x."column" FROM (SELECT _row, unnest(_reasons) AS x FROM {source})').fetchall()
    return {(int(r), rule, column) for r, rule, column in rows}


def _both_engines(resource, delivery: Path, paths) -> tuple:
    """Validate one landed delivery on pandas, forget the result, validate it again on DuckDB."""
    fingerprint = land_file(resource, delivery).fingerprint
    results = []
    for engine in ("pandas", "duckdb"):
        outcome = validate_batch(resource, fingerprint, paths, engine=engine)
        results.append((outcome, _quarantined(outcome)))
        for zone in (Zone.validated, Zone.quarantine):
            shutil.rmtree(Path(paths.batch_dir(zone, resource.table, fingerprint, outcome.rules)))
    return results


def _assert_same(pandas, duckdb_) -> None:
    (p, p_rows), (d, d_rows) = pandas, duckdb_
    assert d_rows == p_rows, f"only on pandas: {sorted(p_rows - d_rows)[:10]}; only on DuckDB: {sorted(d_rows - p_rows)[:10]}"
    assert (d.rows, d.accepted, d.quarantined, d.by_rule, d.passed) == (p.rows, p.accepted, p.quarantined, p.by_rule, p.passed)


@pytest.mark.parametrize("code", [r.code for r in load_catalog()])
def test_samples_quarantine_the_same_rows_on_both_engines(lake, tmp_path, code):
    resource = get_resource(code)
    sample = generate_resource(resource, tmp_path / "delivery", rows=600, bad_share=0.1, seed=7)
    pandas, duckdb_ = _both_engines(resource, sample.path, lake)
    assert pandas[0].quarantined > 0, "the sample must have bad rows for this to mean anything"
    _assert_same(pandas, duckdb_)


# Validation reads only the entry's items from a raw batch: a delivery's stray columns never reach
# either engine, so the 10,000-column case would only time landing (tests/deliveries covers it)
ENGINE_CASES = [c for c in LANDED if "unknown-columns" not in c.warnings]


@pytest.mark.parametrize("case", ENGINE_CASES, ids=[c.name for c in ENGINE_CASES])
def test_broken_deliveries_quarantine_the_same_rows_on_both_engines(lake, tmp_path, case):
    resource = get_resource(case.resource)
    folder = tmp_path / "delivery"
    folder.mkdir()
    _assert_same(*_both_engines(resource, case.make(folder), lake))
