"""A version with too many quarantined rows is held back: it never reaches lake/curated or
lake/open, the marts keep showing the last passing version, the catalog says so, and the
department's feedback names the limit and the share.
"""
from __future__ import annotations

import csv

import duckdb
from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.store import open_store
from common.lake import Zone
from flow.pipeline import land_and_validate, open_views, transform
from kcdata.cli import app
from samples.generate import generate_resource

CODE = "KC-STHJ-001"  # hourly air quality: a mart (air_quality_daily) and an open view


def _rows(path) -> list[tuple]:
    """Every row, sorted; floats rounded (a parallel sum may differ in the last bit)."""
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning = false) ORDER BY ALL").fetchall()
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def test_a_failed_version_never_reaches_curated_or_open(lake):
    resource = get_resource(CODE)
    good = generate_resource(resource, lake.inbox / "v1", rows=600, bad_share=0.02, seed=1)
    v1 = land_and_validate(resource, good.path)
    assert v1.outcome.passed
    transform(tables=[resource.table])  # what the chain builds for this delivery
    open_views()
    mart = lake.mart_file("air_quality_daily")
    mart_before = _rows(mart)
    current_before = _rows(lake.current_file(resource.table))

    # the same hours sent again, but with 40% bad rows: over the 5% limit
    bad = generate_resource(resource, lake.inbox / "v2", rows=600, bad_share=0.40, seed=2)
    v2 = land_and_validate(resource, bad.path)
    assert v2.version == 2 and not v2.outcome.passed
    assert v2.outcome.accepted > 0  # it has good rows, and they still stay out
    transform(tables=[resource.table])  # what the chain builds for this delivery
    built = open_views()

    fp2 = v2.landed.fingerprint[:16]
    current = lake.current_file(resource.table)
    assert duckdb.sql(f"SELECT count(*) FROM '{current}' WHERE _batch = '{fp2}'").fetchall() == [(0,)]
    assert _rows(current) == current_before
    assert _rows(mart) == mart_before  # the marts show the last passing version
    assert not lake.batch_dir(Zone.open, resource.table, v2.landed.fingerprint, v2.outcome.rules).exists()
    assert not list(lake.table_dir(Zone.open, resource.table).glob(f"batch={fp2}*"))
    assert built[resource.table].path == lake.batch_file(Zone.open, resource.table, v1.landed.fingerprint, v1.outcome.rules)
    for path in [*lake.curated.rglob("*.parquet"), *lake.open.rglob("*.parquet")]:
        names = duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
        if any(n[0] == "_batch" for n in names):
            assert duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE _batch = '{fp2}'").fetchall() == [(0,)], path

    # the catalog says so
    store = open_store()
    assert store.latest_version(CODE).version == 2 and not store.latest_version(CODE).validation_passed
    assert store.latest_passing_version(CODE).version == 1
    shown = CliRunner().invoke(app, ["catalog", "show", CODE])
    assert shown.exit_code == 0, shown.output
    assert "held back" in shown.output and "5.0%" in shown.output and "version 1, the last that passed" in shown.output

    # the department's feedback names the limit and the share, before the per-cell lines
    with open(v2.outcome.feedback_path, encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    first = lines[0]
    assert first["问题代码"] == "version-held-back" and first["行号"] == ""
    share = f"{v2.outcome.quarantined / v2.outcome.rows:.1%}"
    assert share in first["问题说明"] and "5.0%" in first["问题说明"]
    assert share in first["description"] and "5.0%" in first["description"]
    assert len(lines) > v2.outcome.quarantined  # every quarantined cell is still listed
