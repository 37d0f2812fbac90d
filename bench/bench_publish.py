"""Benchmark: publishing many datasets in one run, one at a time against several at once.

Every resource of the sample catalog is generated at `--rows`, landed,
validated, transformed, opened and approved in the benchmark's own lake and catalog, then
published to the running system's CKAN (the first publish makes the datasets). Then, in the same
run, a new version of every resource is published twice over: once with one dataset at a time
(`publish_1_way_s`, the design before issue 25) and once `--ways` at a time (`publish_n_ways_s`,
KCDATA_PUBLISH_WAYS); each round publishes a changed version of every dataset, so both do the
same work (files uploaded, DataStore tables loaded). It replaces those datasets on the local
portal with the benchmark's rows; the next publish run from your lake puts yours back. Needs the
running system (`kcdata up`).

    .venv/bin/python bench/bench_publish.py [--rows 2000] [--ways 3]
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

app = typer.Typer(add_completion=False)


def _new_versions(resources: list, root: Path, rows: int, seed: int) -> None:
    """A new version of every resource, landed, validated, transformed and opened."""
    from flow.pipeline import land_and_validate, open_views, transform
    from samples.generate import generate_resource

    for r in resources:
        land_and_validate(r, generate_resource(r, root / f"v{seed}", rows=rows, bad_share=0.0, seed=seed).path)
    tables = [r.table for r in resources]
    transform(tables=tables)
    open_views(tables=tables)


def _publish(resources: list, ways: int) -> tuple[float, list[str]]:
    from kcdata.targets import ckan_target
    from portal.client import Portal
    from portal.publisher import publish_all

    started = time.perf_counter()
    results = publish_all(Portal(ckan_target()), codes=[r.code for r in resources], ways=ways)
    return round(time.perf_counter() - started, 2), sorted({r.action for r in results})


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="rows of each resource's sample")] = 2000,
    ways: Annotated[int, typer.Option(help="datasets at once in the parallel round")] = 3,
    out: Annotated[Optional[Path], typer.Option(help="the JSON record (default bench/results/publish-DATE.json)")] = None,
) -> None:
    from bench.ingest_system import isolate, system_running

    if not system_running():
        raise SystemExit("the running system is needed (kcdata up): this checkout's system is not running")
    with tempfile.TemporaryDirectory(prefix="kcdata-bench-publish-") as tmp:
        root = Path(tmp)
        isolate(root)
        from catalog.entries import load_catalog
        from catalog.store import open_store

        resources = load_catalog()
        _new_versions(resources, root, rows, seed=1)
        store = open_store()
        for r in resources:
            store.record_approval(r, "approve", "benchmark reviewer", note="bench/bench_publish.py")
        first, _ = _publish(resources, ways)
        print(f"{len(resources)} datasets made on the portal in {first} s; now a new version of each, one way, then {ways}")
        _new_versions(resources, root, rows, seed=2)
        one, actions_one = _publish(resources, 1)
        _new_versions(resources, root, rows, seed=3)
        many, actions_many = _publish(resources, ways)
    result = {"datasets": len(resources), "rows": rows, "ways": ways, "first_publish_s": first,
              "publish_1_way_s": one, "publish_n_ways_s": many, "speed_up": round(one / many, 2),
              "actions": {"one": actions_one, "many": actions_many},
              "date": str(date.today()), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    print(f"  publish_1_way_s   {one:7.1f} s  ({one / len(resources):.1f} s per dataset)")
    print(f"  publish_n_ways_s  {many:7.1f} s  ({ways} at once; {result['speed_up']}x)")
    out = out or ROOT / "bench" / "results" / f"publish-{date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    app()
