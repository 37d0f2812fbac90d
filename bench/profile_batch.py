"""Where a batch's time goes: `flow.batch.ingest_batch` in this process, under cProfile, without Airflow.

    .venv/bin/python bench/profile_batch.py [--resources 300] [--deliveries 30] [--rows 2000] [--top 40]

Grows the sample catalog to `--resources` entries (`bench_scale.scale_catalog`) in a temporary
folder with a lake, inbox, SQLite catalog store and keys of its own, delivers a generated file to
`--deliveries` of the file-drop copies, takes the first alone (a cold start: imports and GX's
context), then profiles one batch of the others and prints the time per delivery and the `--top`
functions by cumulative time. A tool for finding the next cost, not a benchmark: it keeps no JSON.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=30)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    from bench_scale import scale_catalog
    from ingest_system import isolate

    folder = Path(tempfile.mkdtemp(prefix="kcdata-profile-"))
    copies = scale_catalog(folder / "catalog", args.resources)
    isolate(folder)  # its own lake, inbox and keys
    os.environ.update({"KCDATA_CATALOG_DIR": str(folder / "catalog"), "KCDATA_CATALOG_URL": f"sqlite:///{folder}/catalog.db"})

    from catalog.entries import get_resource
    from common.settings import get_paths
    from connectors.inbox import submit_delivery
    from flow.batch import ingest_batch
    from samples.generate import generate_resource

    paths = get_paths()
    resources = [r for r in map(get_resource, copies) if r.source.kind == "file_drop"][: args.deliveries]
    for i, resource in enumerate(resources):
        sample = generate_resource(resource, folder / "outbox" / resource.table, rows=args.rows, bad_share=0.02, seed=i)
        submit_delivery(resource, sample.path, paths)
    started = time.monotonic()
    ingest_batch(resources[:1], paths)
    print(f"first delivery alone (cold): {time.monotonic() - started:.1f} s")
    profile = cProfile.Profile()
    started = time.monotonic()
    profile.enable()
    outcomes = ingest_batch(resources[1:], paths)
    profile.disable()
    took = time.monotonic() - started
    failed = [o.code for o in outcomes if o.error]
    print(f"{len(outcomes)} deliveries of {args.rows} rows in one batch, {args.resources} resources in the catalog: "
          f"{took:.1f} s, {took / max(1, len(outcomes)):.2f} s each (under the profiler); failed: {failed or 'none'}")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    print(f"lake and catalog left in {folder}")


if __name__ == "__main__":
    main()
