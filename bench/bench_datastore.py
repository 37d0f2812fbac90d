"""Benchmark: loading a DataStore table of 1,000,000 rows: a new table swapped in, the live one filled in place, API upserts.

A real resource of the sample catalog (default KC-STHJ-001, hourly air quality) is generated at
`--rows` by samples/generate.py, landed, validated, transformed and opened in the benchmark's own
lake, approved in its own catalog and published to the running system's CKAN. Then, on the same
data.csv resource, in the same run:

- `datastore_load_1m_s`: the publisher's load as it is now (`_load_datastore`: CKAN's
  `kcdata_datastore_load` COPYs the uploaded CSV into a staging table, builds a new table from it
  beside the live one, with its indexes built once, and swaps it in, all in one transaction);
- `datastore_load_1m_s_in_place`: the load before it (`in_place: true`, what a table with an alias
  still gets): the same COPY, then the live table's rows deleted and the new ones inserted, its
  indexes and trigger kept up row by row;
- `datastore_load_1m_s_api` (with `--api`, ~7 min more): the method before both, kept here only to
  measure it: empty the table with `datastore_delete`, then `datastore_upsert` in batches of 5,000
  typed records.

Every way must leave the same rows (count, and a sample of rows by key compared cell by cell). It
replaces that resource's dataset on the local portal with the benchmark's rows; the next publish
run from your lake puts yours back. Needs the running system (`kcdata up`).

    .venv/bin/python bench/bench_datastore.py [--rows 1000000] [--resource KC-STHJ-001]
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

app = typer.Typer(add_completion=False)
RECORDS_PER_CALL = 5_000  # what the API method sent per datastore_upsert
SAMPLE_KEYS = 200


def load_by_api(portal: Any, resource: Any, resource_id: str, view: Any) -> None:
    """The publisher's DataStore load before issue 25 (API upserts), kept only to be measured."""
    from common.lake_store import connect as lake_connection
    from common.sqltext import ident, literal

    portal.call("datastore_delete", resource_id=resource_id, force=True, filters={})
    con = lake_connection()
    cols = ", ".join(_api_column(resource.item(c).published_type.value, c, ident) for c in view.columns)
    reader = con.sql(f"SELECT {cols} FROM read_parquet({literal(view.path)}, hive_partitioning = false)").to_arrow_reader(RECORDS_PER_CALL)
    for batch in reader:
        records = batch.to_pylist()
        for record in records:
            for k, v in record.items():
                if hasattr(v, "isoformat"):
                    record[k] = v.isoformat()
                elif isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
                    record[k] = int(v)  # a whole number is sent as 3, so the DataStore shows 3, not 3.0
        portal.call("datastore_upsert", resource_id=resource_id, force=True, method="insert", records=records)
    con.close()


def _api_column(item_type: str, code: str, ident: Any) -> str:
    if item_type == "T":
        return f"strftime({ident(code)}, '%Y-%m-%dT%H:%M:%S') AS {ident(code)}"
    if item_type == "I":
        return f"CAST({ident(code)} AS BIGINT) AS {ident(code)}"
    return ident(code)


def _sample(portal: Any, resource_id: str, key: list[str], keys: list[dict]) -> list[dict]:
    """The rows of these keys as the public reads them (without `_id`, which differs between loads)."""
    rows = []
    for k in keys:
        found = portal.call("datastore_search", resource_id=resource_id, filters=k, limit=2)["records"]
        rows.append([{c: v for c, v in r.items() if c not in ("_id", "rank")} for r in found])
    return rows


def _filter_value(value: Any) -> Any:
    """A key's value as a DataStore filter takes it (a timestamp as `YYYY-MM-DD HH:MM:SS`)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if hasattr(value, "isoformat") else value


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return round(time.perf_counter() - started, 2)


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="rows of the generated sample")] = 1_000_000,
    resource_code: Annotated[str, typer.Option("--resource", help="a catalog resource with a sample generator")] = "KC-STHJ-001",
    out: Annotated[Optional[Path], typer.Option(help="the JSON record (default bench/results/datastore-DATE.json)")] = None,
    api: Annotated[bool, typer.Option(help="also the API upserts of before issue 25 (~7 min at 1M rows)")] = False,
) -> None:
    from bench.ingest_system import isolate, system_running

    if not system_running():
        raise SystemExit(f"the running system is needed (kcdata up): {NOT_RUNNING}")
    with tempfile.TemporaryDirectory(prefix="kcdata-bench-datastore-") as tmp:
        root = Path(tmp)
        isolate(root)
        result = _run(resource_code, rows, root, api)
    result.update({"date": str(date.today()), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})
    print(f"{result['resource']}: {result['rows']:,} rows")
    print(f"  datastore_load_1m_s          {result['datastore_load_1m_s']:8.1f} s  (COPY, a new table built and swapped in)")
    print(f"  datastore_load_1m_s_in_place {result['datastore_load_1m_s_in_place']:8.1f} s  (COPY, the live table filled in place)")
    if api:
        print(f"  datastore_load_1m_s_api      {result['datastore_load_1m_s_api']:8.1f} s  "
              f"(datastore_delete + datastore_upsert × {RECORDS_PER_CALL:,})")
    print(f"  first publish {result['first_publish_s']:.1f} s; same rows every way: {result['same_rows']}")
    out = out or ROOT / "bench" / "results" / f"datastore-{date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out}")


NOT_RUNNING = "this checkout's system is not running"


def _run(code: str, rows: int, root: Path, api: bool) -> dict:
    import duckdb

    import portal.publisher as pub
    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.lake import OpenView, Zone
    from common.settings import get_paths
    from common.sqltext import ident, literal
    from flow.pipeline import land_and_validate, open_views, transform
    from kcdata.targets import ckan_target
    from portal.client import Portal
    from portal.mapping import dataset_name
    from samples.generate import generate_resource

    resource = get_resource(code)
    print(f"{code}: generating {rows:,} rows, then land, validate, transform, open view")
    sample = generate_resource(resource, root / "inbox", rows=rows, bad_share=0.0, seed=25)
    land_and_validate(resource, sample.path)
    transform(tables=[resource.table])
    open_views(tables=[resource.table])
    paths = get_paths()
    store = open_store(paths.catalog_url)
    store.record_approval(resource, "approve", "benchmark reviewer", note="bench/bench_datastore.py")
    portal = Portal(ckan_target())
    print("  first publish (files, then the DataStore table created and loaded)")
    started = time.perf_counter()
    published = pub.publish_resource(resource, portal, paths, store)
    first = round(time.perf_counter() - started, 2)
    if published.action not in ("published", "updated"):
        raise SystemExit(f"publish answered {published.action}: {published.reasons}")
    latest = store.latest_version(code)
    assert latest is not None
    view_file = paths.batch_file(Zone.open, resource.table, latest.fingerprint, latest.rules)
    view = OpenView.describe(view_file, [i.code for i in resource.items])
    dataset = portal.call("package_show", id=dataset_name(resource))
    csv_resource = next(r for r in dataset["resources"] if r["name"] == "data.csv")
    key = [k for k in resource.key if k in view.columns]
    picked = duckdb.sql(f"SELECT {', '.join(ident(k) for k in key)} FROM read_parquet({literal(view.path)}) "
                        f"USING SAMPLE {SAMPLE_KEYS} ROWS (reservoir, 7)").fetchall()
    keys = [{k: _filter_value(v) for k, v in zip(key, row, strict=True)} for row in picked]

    def load(method: Any) -> dict:
        took = _timed(method)
        total = portal.call("datastore_search", resource_id=csv_resource["id"], limit=0)["total"]
        return {"s": took, "total": total, "rows": _sample(portal, csv_resource["id"], key, keys)}

    print("  the load as it is: COPY, a new table built beside the live one and swapped in")
    new = load(lambda: pub._load_datastore(portal, resource, csv_resource, view))
    print(f"    {new['s']} s; the load before it: COPY, the live table's rows deleted and the new ones inserted")
    in_place = load(lambda: portal.call("kcdata_datastore_load", resource_id=csv_resource["id"], in_place=True,
                                        verbatim=pub.apostrophe_cells(resource, view)))
    print(f"    {in_place['s']} s")
    ways = {"new": new, "in_place": in_place}
    if api:
        print(f"  the API method (datastore_delete, then datastore_upsert × {RECORDS_PER_CALL:,})")
        ways["api"] = load(lambda: load_by_api(portal, resource, csv_resource["id"], view))
        print(f"    {ways['api']['s']} s")
    print("  loading the new way once more, so the portal keeps the publisher's table")
    pub._load_datastore(portal, resource, csv_resource, view)
    result = {
        "resource": code, "table": resource.table, "rows": view.rows, "csv_mib": round(csv_resource.get("size", 0) / 2**20, 1),
        "datastore_load_1m_s": new["s"], "datastore_load_1m_s_in_place": in_place["s"], "first_publish_s": first,
        "totals": {way: w["total"] for way, w in ways.items()},
        "same_rows": all(w["total"] == view.rows and w["rows"] == new["rows"] for w in ways.values())
        and all(len(r) == 1 for r in new["rows"]),
        "sampled_keys": len(keys),
    }
    if api:
        result["datastore_load_1m_s_api"] = ways["api"]["s"]
    return result


if __name__ == "__main__":
    app()
