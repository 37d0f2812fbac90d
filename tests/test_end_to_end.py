"""The main job end to end through Airflow: sample files -> the chain (ingest, transform, open view) in one run.

Asserts what users see: curated marts in the lake, every resource versioned in the catalog,
accepted + quarantined = generated rows, reasons in quarantine, Data Docs, and no duplicates
when the whole pipeline runs again.
"""
from __future__ import annotations

import duckdb

from catalog.entries import load_catalog
from catalog.store import open_store
from orchestration.airflow_run import run_pipeline
from orchestration.topology import CHAIN
from samples.generate import generate_resource


def _count(path) -> int:
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}', hive_partitioning=false)").fetchall()[0][0]


def test_sample_departments_flow_end_to_end_through_airflow(lake, airflow_db, mark_delivered):
    resources = load_catalog()
    generated = {r.code: generate_resource(r, lake.inbox, rows=1500, bad_share=0.03, seed=11).rows for r in resources}
    assert len(mark_delivered(lake.inbox)) == len(resources)  # each department marks its delivery complete

    (summary,) = run_pipeline()
    # one run of the chain took every resource's delivery through every stage up to the portal
    assert summary.dag_id == CHAIN and summary.state == "success"
    assert {t: summary.tasks[t] for t in ("ingest", "notify", "transform", "report")} == dict.fromkeys(
        ("ingest", "notify", "transform", "report"), "success")

    marts = {p.stem: _count(p) for p in lake.curated.glob("*.parquet")}
    assert {"air_quality_daily", "enterprise_registrations_monthly", "traffic_volume_hourly"} <= set(marts)
    assert all(n > 0 for n in marts.values()), marts

    latest = open_store().latest_versions()
    assert set(latest) == {r.code for r in resources}
    for code, version in latest.items():
        assert version.rows_accepted + version.rows_quarantined == generated[code], code
        assert version.rows_quarantined > 0 and version.problems_by_rule, code
        assert _count(version.quarantine_path) == version.rows_quarantined
        assert version.validation_passed, (code, version.problems_by_rule)

    _, _, edges = open_store().resource("KC-STHJ-001")
    assert {e.step for e in edges} == {"land", "validate", "quarantine", "transform", "open"}
    assert any(e.target_uri == "lake://curated/air_quality_daily" for e in edges)
    assert any(e.source_uri == "lake://curated/resources/air_quality_hourly" and e.target_uri.startswith("lake://open/") for e in edges)
    assert lake.data_docs_index.exists()

    # Running everything again with the same files adds nothing.
    raw_batches = sorted(p for p in lake.raw.rglob("data.parquet"))
    run_pipeline()
    assert sorted(p for p in lake.raw.rglob("data.parquet")) == raw_batches
    again = open_store().latest_versions()
    assert {c: v.version for c, v in again.items()} == {c: 1 for c in latest}
    assert {p.stem: _count(p) for p in lake.curated.glob("*.parquet")} == marts
