"""Latency of the running system: from a department's `.ready` marker to the updated CKAN dataset.

    .venv/bin/python bench/bench_latency.py [--deliveries 5] [--rows 2000] [--folder /var/tmp/kcdata-bench-latency]

Brings the system up (`kcdata up`) on a lake, inbox and catalog of its own under `--folder` (the
Airflow services restart with those settings; run `kcdata up` again afterwards to go back to
yours), approves the air-quality resource as a reviewer would, then delivers N different files one
after another with `submit_delivery` (file, then marker) and measures, for each: marker → ingest
run queued (the AssetWatcher), the ingest run, the wait for and the run of the dbt transform, the
open view and the publish run, and marker → the CKAN dataset carrying the new version's
fingerprint. Prints each delivery and the medians; nothing is triggered by hand.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CODE, TABLE = "KC-STHJ-001", "air_quality_hourly"
CHAIN = ("ingest__air_quality_hourly", "transform__curated", "govern__open_view", "publish__portal")


def _wait_after(api, dag_id: str, after: datetime):
    """The run of `dag_id` the delivery started, finished; a plain message when it never comes."""
    from common.errors import KcdataError

    try:
        return api.wait_for_run_after(dag_id, after, timeout=600, every=0.5)
    except KcdataError as exc:
        raise SystemExit(str(exc)) from None


def _setup(folder: Path) -> None:
    import shutil

    from common.settings import PROJECT_ROOT

    catalog = folder / "catalog"
    if not catalog.exists():
        shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog)
    os.environ.update({"KCDATA_LAKE": str(folder / "lake"), "KCDATA_INBOX": str(folder / "inbox"),
                       "KCDATA_CATALOG_DIR": str(catalog)})
    os.environ.pop("KCDATA_CATALOG_URL", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--folder", type=Path, default=Path("/var/tmp/kcdata-bench-latency"))
    args = parser.parse_args()
    _setup(args.folder)

    import ckanapi

    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.settings import get_paths
    from connectors.inbox import submit_delivery
    from portal.mapping import dataset_name
    from samples.generate import generate_resource
    from stack import connection
    from system import running

    api = running.up(report=lambda m: print(m, flush=True))
    paths = get_paths()
    resource = get_resource(CODE)
    store = open_store(paths.catalog_url)
    store.record_approval(resource, "approve", "benchmark reviewer", note="bench/bench_latency.py")
    url, token = connection(local=True)
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    rows = []
    header = ("event", "ingest", "→dbt", "dbt", "→open", "open", "→pub", "publish", "total")
    print(f"{'#':>2} " + " ".join(f"{h:>{max(6, len(h))}}" for h in header) + "  (seconds)")
    for i in range(args.deliveries):
        seed = int(time.time() * 1000) % 1_000_000 + i
        sample = generate_resource(resource, args.folder / "outbox" / str(i), rows=args.rows, seed=seed)
        marked = datetime.now(timezone.utc)
        t0 = time.monotonic()
        submit_delivery(resource, sample.path, paths)
        runs = {}
        after = marked
        for dag_id in CHAIN:
            runs[dag_id] = _wait_after(api, dag_id, after)
            if runs[dag_id].state != "success":
                raise SystemExit(f"{dag_id} {runs[dag_id].run_id} ended {runs[dag_id].state}")
            after = runs[dag_id].start  # an event is emitted before its run ends
        version = store.latest_version(CODE)
        while True:
            ds = ckan.action.package_show(id=dataset_name(resource))
            if ds.get("fingerprint") == version.fingerprint:
                break
            time.sleep(0.2)
        total = time.monotonic() - t0
        r = [runs[d] for d in CHAIN]
        figures = {
            "event": (r[0].queued_at - marked).total_seconds(),
            "ingest": (r[0].end - r[0].queued_at).total_seconds(),
            "→dbt": (r[1].start - r[0].end).total_seconds(),
            "dbt": (r[1].end - r[1].start).total_seconds(),
            "→open": (r[2].start - r[1].end).total_seconds(),
            "open": (r[2].end - r[2].start).total_seconds(),
            "→pub": (r[3].start - r[2].end).total_seconds(),
            "publish": (r[3].end - r[3].start).total_seconds(),
            "total": total,
        }
        rows.append(figures)
        print(f"{i + 1:>2} " + " ".join(f"{v:>{max(6, len(k))}.1f}" for k, v in figures.items()), flush=True)
    median = {k: statistics.median(f[k] for f in rows) for k in rows[0]}
    print("med " + " ".join(f"{v:>{max(6, len(k))}.1f}" for k, v in median.items()))
    print(f"median marker → updated CKAN dataset: {median['total']:.1f} s over {len(rows)} deliveries of {args.rows} rows")
    print("the Airflow services now run on the benchmark's lake: `kcdata up` in your shell points them back at yours")


if __name__ == "__main__":
    main()
