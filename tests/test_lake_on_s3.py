"""The lake on object storage: the whole chain with `KCDATA_LAKE=s3://...` on a real S3 server.

The server is the running system's SeaweedFS (`weed mini`), started alone for this session
(the `s3_store` fixture in conftest.py). What a user sees is asserted: objects in the bucket, rows in
the marts and the open view, nothing on local disk where the lake would be, no duplicate on a
second run, and never a half-written batch.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def _objects(paths) -> list[str]:
    from common.lake_store import s3_filesystem

    fs = s3_filesystem()
    fs.invalidate_cache()
    return sorted(fs.find(str(paths.lake)))


def _rows(paths, relative: str) -> int:
    from common.lake_store import connect

    with connect() as con:
        return con.execute(f"SELECT count(*) FROM read_parquet('{paths.lake}/{relative}')").fetchone()[0]


def test_the_whole_chain_runs_on_an_s3_lake_and_a_rerun_adds_nothing(s3_lake, tmp_path):
    from catalog.entries import load_catalog
    from catalog.store import open_store
    from flow.pipeline import land_inbox, open_views, transform, validate_pending
    from samples.generate import generate_resource

    paths = s3_lake
    chosen = {"air_quality_hourly", "enterprise_registrations"}  # long and plain; wide with encrypted personal items
    resources = [r for r in load_catalog() if r.table in chosen]
    sent = {r.code: generate_resource(r, paths.inbox, rows=800, bad_share=0.02, seed=3).rows for r in resources}

    for r in resources:
        land_inbox(r, paths)
        validate_pending(r, paths)
    result = transform(paths, tables=sorted(chosen))
    views = open_views(paths, tables=sorted(chosen))

    objects = _objects(paths)
    for zone in ("raw", "validated", "quarantine", "open"):
        for table in chosen:
            assert any(f"/{zone}/{table}/batch=" in o and o.endswith("/data.parquet") for o in objects), (zone, table)
    assert any(o.endswith("/curated/air_quality_daily.parquet") for o in objects)
    assert result.rows["air_quality_daily"] > 0
    assert _rows(paths, "curated/resources/air_quality_hourly.parquet") > 0
    assert set(views) == {"air_quality_hourly"} | ({"enterprise_registrations"} & set(views))
    assert views["air_quality_hourly"].rows == _rows(paths, "curated/resources/air_quality_hourly.parquet")

    store = open_store(paths.catalog_url)
    for code, version in store.latest_versions().items():
        assert version.rows_accepted + version.rows_quarantined == sent[code], code
        assert version.rows_quarantined > 0
        assert str(version.quarantine_path).startswith("s3://")
    assert not (tmp_path / "lake").exists() and not Path("s3:").exists()  # nothing fell back to local disk

    # Everything again with the same deliveries: no new object, no new version.
    for r in resources:
        generate_resource(r, paths.inbox, rows=800, bad_share=0.02, seed=3)
        land_inbox(r, paths)
        validate_pending(r, paths)
    transform(paths, tables=sorted(chosen))
    open_views(paths, tables=sorted(chosen))
    assert [o for o in _objects(paths) if "/curated/" not in o] == [o for o in objects if "/curated/" not in o]
    assert {v.version for v in store.latest_versions().values()} == {1}


def test_a_batch_is_invisible_until_its_data_file_is_committed(s3_lake):
    """A crash while a batch is being published leaves no batch a reader would take; the next
    run publishes it whole, and a second writer of the same batch keeps the first one's."""
    from common.atomic import staged_dir
    from common.lake import DATA_FILE, Zone
    from common.lake_store import connect, put_if_absent, s3_filesystem

    paths = s3_lake
    target = paths.batch_dir(Zone.validated, "demo", "ab" * 32, "r1")
    with pytest.raises(RuntimeError), staged_dir(target) as tmp:
        (tmp / "outcome.json").write_text("{}")
        with connect() as con:
            con.execute(f"COPY (SELECT range AS i FROM range(10)) TO '{tmp / DATA_FILE}' (FORMAT parquet)")
        raise RuntimeError("the worker dies here")
    assert not (target / DATA_FILE).exists() and not (target / "outcome.json").exists()

    # A crash between the other files and the data file: the batch is still not there for readers.
    s3_filesystem().pipe(str(target / "outcome.json"), b"{}")
    with connect() as con:
        assert con.execute(f"SELECT count(*) FROM glob('{paths.batch_glob(Zone.validated, 'demo')}')").fetchone()[0] == 0

    with staged_dir(target) as tmp:
        with connect() as con:
            con.execute(f"COPY (SELECT range AS i FROM range(10)) TO '{tmp / DATA_FILE}' (FORMAT parquet)")
    with connect() as con:
        assert con.execute(f"SELECT count(*) FROM read_parquet('{paths.batch_glob(Zone.validated, 'demo')}')").fetchone()[0] == 10
    first = (target / DATA_FILE).read_bytes()
    assert put_if_absent(target / DATA_FILE, b"another writer") is False
    assert (target / DATA_FILE).read_bytes() == first


def test_an_s3_lake_without_a_shared_catalog_store_is_refused_clearly(s3_lake, monkeypatch):
    from common.settings import get_paths

    monkeypatch.delenv("KCDATA_CATALOG_URL")
    with pytest.raises(ValueError, match="KCDATA_CATALOG_URL"):
        assert get_paths().catalog_url is None


def test_data_docs_show_the_validations_of_every_worker(s3_lake, tmp_path, monkeypatch):
    """Two deliveries validated on two machines (each its own work folder, so its own GX context):
    Data Docs rendered on a third show both results, gathered from the lake."""
    from catalog.entries import load_catalog
    from common.settings import get_paths
    from expectations.validate import build_data_docs
    from flow.pipeline import land_inbox, validate_pending
    from samples.generate import generate_resource

    resources = [r for r in load_catalog() if r.table in {"air_quality_hourly", "traffic_flow"}]
    runs = {}
    for machine, resource in enumerate(resources):
        monkeypatch.setenv("KCDATA_WORK", str(tmp_path / f"worker-{machine}"))
        paths = get_paths()
        generate_resource(resource, paths.inbox, rows=300, bad_share=0.02, seed=machine)
        land_inbox(resource, paths)
        (result,) = validate_pending(resource, paths)
        runs[resource.code] = result.outcome.gx_run

    monkeypatch.setenv("KCDATA_WORK", str(tmp_path / "desk"))
    index = build_data_docs(get_paths())
    site = index.parent
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    for code, run in runs.items():
        assert any(f"/{run}/" in page for page in pages), f"no result page of {code} ({run}) in the Data Docs"
        assert run in index.read_text(encoding="utf-8"), f"the index does not list {code}'s validation"
