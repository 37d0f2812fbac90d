"""dbt pays only for what changed: partial parsing kept between runs, and a delivery of one
resource rebuilds its own models and what depends on them, nothing else.

The lake is test_dbt_build's synthetic one; the runs are real `dbt build`s.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from test_dbt_build import build_lake, enterprise_rows, uscc, write_batch

from catalog.entries import get_resource
from common.settings import get_paths
from transform.runner import run_dbt
from transform.selection import plan

LOADED_3 = datetime(2026, 3, 4, 1, 0, 0)


def curated_files(lake: Path) -> dict[str, tuple[int, bytes]]:
    """Every curated Parquet file: name -> (mtime in ns, bytes)."""
    root = lake / "curated"
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory):
    """A synthetic lake after one full build (the state every later delivery starts from)."""
    lake = tmp_path_factory.mktemp("lake")
    build_lake(lake)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(lake))
        first = run_dbt(get_paths())
        again = run_dbt(get_paths())
    return lake, first, again


def test_second_run_reuses_dbts_saved_parse(built_lake):
    _, first, again = built_lake
    # dbt's own events: the first run had nothing saved, the second found nothing changed
    assert first.parse.startswith("full: saved manifest not found")
    assert again.parse == "partial: nothing changed"


def test_delivery_of_one_resource_rebuilds_only_what_depends_on_it(built_lake, monkeypatch):
    root, _, _ = built_lake
    monkeypatch.setenv("KCDATA_LAKE", str(root))
    before = curated_files(root)
    # a third file of enterprise registrations: one new company in February
    new = dict(enterprise_rows()[1][1], uscc=uscc(7), enterprise_name="广州知城新材料有限公司", established_on=date(2026, 2, 20))
    write_batch(root, get_resource("enterprise_registrations"), [new], "enterprifp3", LOADED_3)

    result = run_dbt(get_paths(), tables=["enterprise_registrations"])

    assert result.parse == "partial: nothing changed"
    assert sorted(result.marts) == ["enterprise_registrations_monthly", "stg_enterprise_registrations"]
    assert result.rows["stg_enterprise_registrations"] == 7  # 6 companies, and the new one
    after = curated_files(root)
    rebuilt = {name for name in before if after[name] != before[name]}
    assert rebuilt == {"enterprise_registrations_monthly.parquet", "resources/enterprise_registrations.parquet"}
    # untouched: not even rewritten. Patents and inspections refer to enterprises (a relationships
    # test), which used to pull their staging models into every delivery of enterprises.
    for name in ("resources/patent_grants.parquet", "resources/work_safety_inspections.parquet", "air_quality_daily.parquet"):
        assert after[name] == before[name], name


def test_delivery_downstream_of_seeds_reads_them_from_the_scratch_catalog(built_lake, monkeypatch):
    root, _, _ = built_lake
    monkeypatch.setenv("KCDATA_LAKE", str(root))
    before = curated_files(root)
    result = run_dbt(get_paths(), tables=["air_quality_hourly"])
    # its staging, the intermediate view and the mart; the seeds were loaded by the full build
    assert result.selected == ["air_quality_daily", "int_air_quality__station_days", "stg_air_quality_hourly"]
    assert result.rows["air_quality_daily"] == 3
    after = curated_files(root)
    assert {n for n in before if after[n] != before[n]} == {"air_quality_daily.parquet", "resources/air_quality_hourly.parquet"}


def test_first_delivery_into_a_fresh_lake_builds_what_it_needs(tmp_path, monkeypatch):
    build_lake(tmp_path)
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path))
    # nothing built yet: dbt's own closure (@), seeds and the intermediate model included
    result = run_dbt(get_paths(), tables=["air_quality_hourly"])
    assert result.selected == ["@stg_air_quality_hourly"]
    assert result.rows["air_quality_daily"] == 3
    assert not (tmp_path / "curated" / "traffic_volume_hourly.parquet").exists()


# --------------------------------------------------------------------------- the plan alone


def _manifest() -> dict:
    """stg_a -> mart (with seed s and stg_b); stg_b's relationships test reads stg_a."""
    def node(name, kind="model", materialized="view"):
        return {"name": name, "resource_type": kind, "config": {"materialized": materialized}}

    nodes = {
        "model.p.stg_a": node("stg_a", materialized="external"),
        "model.p.stg_b": node("stg_b", materialized="external"),
        "seed.p.s": node("s", kind="seed", materialized="seed"),
        "model.p.mart": node("mart", materialized="external"),
        "test.p.rel_b_a": node("rel_b_a", kind="test", materialized="test"),
    }
    parents = {
        "model.p.stg_a": ["source.p.validated.a"], "model.p.stg_b": ["source.p.validated.b"], "seed.p.s": [],
        "model.p.mart": ["model.p.stg_a", "model.p.stg_b", "seed.p.s"],
        "test.p.rel_b_a": ["model.p.stg_b", "model.p.stg_a"],
    }
    children: dict[str, list[str]] = {k: [] for k in parents}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(child)
    unit_tests = {"unit_test.p.mart.t": {"model": "mart"}}
    sources = {f"source.p.validated.{t}": {"name": t, "source_name": "validated"} for t in "ab"}
    return {"nodes": nodes, "sources": sources, "parent_map": parents, "child_map": children, "unit_tests": unit_tests}


def test_plan_keeps_what_the_scratch_catalog_holds(tmp_path):
    for name in ("stg_a", "stg_b", "mart"):
        (tmp_path / f"{name}.parquet").touch()
    everything = {"model.p.stg_a", "model.p.stg_b", "seed.p.s", "model.p.mart", "unit_test.p.mart.t"}
    chosen = plan(_manifest(), ["a"], everything, tmp_path)
    assert chosen.nodes == ["mart", "stg_a"]  # not stg_b (only a test of it reads stg_a), not the seed
    assert chosen.args() == ["--select", "mart stg_a", "--exclude-resource-type", "unit_test"]
    assert chosen.reads == ["a"]  # only a's encrypted batches need decrypting

    # the seed never loaded by this project, stg_b's file gone: both rebuilt; the unit test runs
    chosen = plan(_manifest(), ["a"], {"model.p.stg_a", "model.p.mart", "model.p.stg_b"}, tmp_path / "elsewhere")
    assert chosen.nodes == ["mart", "s", "stg_a", "stg_b"]
    assert chosen.unit_tests
    assert chosen.reads == ["a", "b"]

    assert plan(_manifest(), ["a"], set(), tmp_path) is None  # nothing known: dbt's @ closure
    assert plan(_manifest(), ["c"], everything, tmp_path) is None  # a resource the graph lacks


def test_plugin_decrypts_only_the_resources_the_run_reads(tmp_path, monkeypatch):
    import duckdb

    from common.lake_crypto import KEY_MATERIAL_PREFIX
    from transform.lake_plugin import INDEX, Plugin
    from transform.selection import TABLES_ENV

    batch = tmp_path / "enterprise_registrations" / "batch=it's.1"
    batch.mkdir(parents=True)
    (batch / "data.parquet").write_bytes(b"not read: the run does not need it")
    (batch / f"{KEY_MATERIAL_PREFIX}data.parquet.json").write_text("{}")
    monkeypatch.setenv(TABLES_ENV, "air_quality_hourly")
    plugin = Plugin.__new__(Plugin)
    plugin.initialize({"validated": str(tmp_path)})
    with duckdb.connect() as con:
        plugin.configure_connection(con)
        assert con.execute(f"select file, relation from {INDEX}").fetchall() == []
        assert [c[0] for c in con.execute(f"describe {INDEX}").fetchall()] == ["file", "relation"]

    # the delivered resource's batch is indexed (its path quoted) and its dataset registered
    import pyarrow as pa

    import common.lake_crypto

    monkeypatch.setattr(common.lake_crypto, "dataset", lambda path: pa.table({"x": [1]}))
    monkeypatch.setenv(TABLES_ENV, "enterprise_registrations")
    plugin.initialize({"validated": str(tmp_path)})
    with duckdb.connect() as con:
        plugin.configure_cursor(con)
        ((file, relation),) = con.execute(f"select file, relation from {INDEX}").fetchall()
        assert file == str(batch / "data.parquet")
        assert con.execute(f"select x from {relation}").fetchall() == [(1,)]


def test_plan_builds_what_a_relationships_test_of_another_resource_reads(tmp_path):
    """A delivery of a runs stg_b's relationships test to stg_a (dbt takes a test along when any
    parent is selected): stg_b must be in the scratch catalog, so it is built if it never was."""
    manifest = _manifest()
    manifest["parent_map"]["model.p.mart"] = ["model.p.stg_a", "seed.p.s"]  # the mart no longer reads stg_b
    manifest["child_map"]["model.p.stg_b"] = ["test.p.rel_b_a"]
    for name in ("stg_a", "mart"):
        (tmp_path / f"{name}.parquet").touch()
    never_b = {"model.p.stg_a", "seed.p.s", "model.p.mart", "unit_test.p.mart.t"}
    assert plan(manifest, ["a"], never_b, tmp_path).nodes == ["mart", "stg_a", "stg_b"]
    (tmp_path / "stg_b.parquet").touch()
    assert plan(manifest, ["a"], never_b | {"model.p.stg_b"}, tmp_path).nodes == ["mart", "stg_a"]
