"""Latency of the running system: from a department's `.ready` marker to the updated CKAN dataset.

    .venv/bin/python bench/bench_latency.py [--deliveries 5] [--rows 2000] [--resources 9] [--folder /var/tmp/kcdata-bench-latency]
    .venv/bin/python bench/bench_latency.py --resources 1000    # the same delivery, in a 1,000-entry catalog

Brings the system up (`kcdata up`) on a lake, inbox and catalog of its own under `--folder` (the
Airflow services restart with those settings; run `kcdata up` again afterwards to go back to
yours). The catalog is the sample catalog (`--resources 9`) or, for more, the sample grown to
`--resources` entries by `bench_scale.scale_catalog` (in `--folder`/resources-N, with a lake and
inbox of its own). The reconciliation clock is set 12 hours away (unless KCDATA_RECONCILE_CRON is
set), so that no clock run of the chain lands in the middle of a delivery.

It approves the air-quality resource as a reviewer would, then delivers N different files one after
another with `submit_delivery` (file, then marker). One delivery is one run of the chain
(`chain__deliveries`); for each it measures: marker → chain run queued (the AssetWatcher), and for
each task of the run (plan, ingest, transform, publish) the previous task's end → its
queueing (the scheduler's hand-off), queued → start (the executor) and its duration, from the
run's task instances; and marker → the CKAN dataset carrying the new version's fingerprint
(watched from the marker on: the dataset is updated when `publish` ends). Prints each delivery and the medians; nothing is triggered
by hand. JSON under bench/results/latency-<date>.json (latency-<date>-<N>-resources.json for a
catalog of N ≠ 9 entries): every delivery's figures, the medians and `marker_to_ckan_median_s`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CODE, TABLE = "KC-STHJ-001", "air_quality_hourly"
SAMPLE_RESOURCES = 9
TASKS = ("plan", "ingest", "transform", "publish")


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _wait_after(api, dag_id: str, after: datetime):
    """The run of `dag_id` the delivery started, finished; a plain message when it never comes."""
    from common.errors import KcdataError

    try:
        return api.wait_for_run_after(dag_id, after, timeout=900, every=0.5)
    except KcdataError as exc:
        raise SystemExit(str(exc)) from None


def _setup(folder: Path, resources: int) -> None:
    """This process's (and so the services') lake, inbox and catalog: the sample catalog in
    `folder`, or a catalog of `resources` entries in a folder of its own beside it."""
    from orchestration.topology import reconcile_cron_far_from

    base = folder if resources == SAMPLE_RESOURCES else folder / f"resources-{resources}"
    catalog = base / "catalog"
    if len(list(catalog.glob("*/*.yaml"))) != resources:
        from bench_scale import scale_catalog

        scale_catalog(catalog, resources)
    os.environ.update({"KCDATA_LAKE": str(base / "lake"), "KCDATA_INBOX": str(base / "inbox"),
                       "KCDATA_CATALOG_DIR": str(catalog)})
    os.environ.setdefault("KCDATA_RECONCILE_CRON", reconcile_cron_far_from(datetime.now(timezone.utc)))
    os.environ.pop("KCDATA_CATALOG_URL", None)


def _bring_up(resources: int):
    """The system on this process's settings, every DAG parsed (a big catalog's first parse is slow)."""
    import stack
    from system import running

    say = lambda m: print(m, flush=True)  # noqa: E731
    stack.up(report=say, settings=running.settings())
    return running.wait_for_dags(say, timeout=180 if resources <= SAMPLE_RESOURCES else 900)


def _task_figures(tis: list[dict]) -> dict[str, float | None]:
    """Per task of TASKS: the previous task's end → its queueing (`gap→`), queued → start (`→`)
    and its duration (a mapped task: from its first queued map index to the end of its last)."""
    figures: dict[str, float | None] = {}
    previous_end: datetime | None = None
    for task in TASKS:
        mine = [t for t in tis if t["task_id"] == task]
        queued = [q for t in mine if (q := _when(t.get("queued_when")))]
        starts = [s for t in mine if (s := _when(t.get("start_date")))]
        ends = [e for t in mine if (e := _when(t.get("end_date")))]
        if previous_end is not None:  # the scheduler's hand-off: the task before it ended → this one queued
            figures[f"gap→{task}"] = (min(queued) - previous_end).total_seconds() if queued else None
        figures[f"→{task}"] = (min(starts) - min(queued)).total_seconds() if starts and queued else None
        figures[task] = (max(ends) - min(starts)).total_seconds() if starts and ends else None
        previous_end = max(ends) if ends else None
    return figures


def _deliver(api, ckan, store, resource, paths, folder: Path, rows: int, i: int) -> dict[str, float | None]:
    """One delivery, from its marker to the CKAN dataset with its version's fingerprint."""
    from connectors.inbox import submit_delivery
    from orchestration.topology import CHAIN
    from portal.mapping import dataset_name
    from samples.generate import generate_resource

    seed = int(time.time() * 1000) % 1_000_000 + i
    sample = generate_resource(resource, folder / "outbox" / str(i), rows=rows, seed=seed)
    before = store.latest_version(CODE)
    marked = datetime.now(timezone.utc)
    t0 = time.monotonic()
    submit_delivery(resource, sample.path, paths)
    # watched from the marker on: the dataset is updated when `publish` ends, before the run's
    # last tasks (metadata score, leak gate, report)
    total = None
    while total is None and time.monotonic() - t0 < 900:
        version = store.latest_version(CODE)
        if version is not None and (before is None or version.version > before.version):
            if ckan.action.package_show(id=dataset_name(resource)).get("fingerprint") == version.fingerprint:
                total = time.monotonic() - t0
        time.sleep(0.1)
    run = _wait_after(api, CHAIN, marked)
    if run.state != "success" or total is None:
        raise SystemExit(f"{CHAIN} {run.run_id} ended {run.state}; the dataset {'was' if total else 'was not'} updated")
    figures: dict[str, float | None] = {"run queued": (run.queued_at - marked).total_seconds() if run.queued_at else None}
    figures.update(_task_figures(api.task_instances(CHAIN, run.run_id)))
    figures["run"] = (run.end - run.queued_at).total_seconds() if run.end and run.queued_at else None
    figures["ckan"] = total
    return figures


def _cell(key: str, value: float | None) -> str:
    width = max(6, len(key))
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=SAMPLE_RESOURCES,
                        help="entries in the catalog (9: the sample catalog; more: grown by bench_scale.scale_catalog)")
    parser.add_argument("--folder", type=Path, default=Path("/var/tmp/kcdata-bench-latency"))
    parser.add_argument("--json", type=Path, default=None, help="where to save the figures (default under bench/results/)")
    args = parser.parse_args()
    suffix = "" if args.resources == SAMPLE_RESOURCES else f"-{args.resources}-resources"
    out = args.json or ROOT / "bench" / "results" / f"latency-{date.today()}{suffix}.json"
    _setup(args.folder, args.resources)

    import ckanapi

    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.settings import get_paths
    from stack import connection

    api = _bring_up(args.resources)
    paths = get_paths()
    resource = get_resource(CODE)
    store = open_store(paths.catalog_url)
    store.record_approval(resource, "approve", "benchmark reviewer", note="bench/bench_latency.py")
    url, token = connection(local=True)
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    rows = []
    for i in range(args.deliveries):
        figures = _deliver(api, ckan, store, resource, paths, paths.lake.parent, args.rows, i)
        if not rows:
            print(f"{'#':>2} " + " ".join(f"{k:>{max(6, len(k))}}" for k in figures)
                  + "  (seconds; gap→task: the task before ended → queued; →task: queued → start)")
        rows.append(figures)
        print(f"{i + 1:>2} " + " ".join(_cell(k, v) for k, v in figures.items()), flush=True)
    median = {k: (statistics.median(vs) if (vs := [f[k] for f in rows if f[k] is not None]) else None) for k in rows[0]}
    print("med " + " ".join(_cell(k, v) for k, v in median.items()))
    print(f"median marker → updated CKAN dataset: {median['ckan']:.1f} s over {len(rows)} deliveries of {args.rows} rows, "
          f"{args.resources} resources in the catalog")
    result = {"date": str(date.today()), "code": CODE, "resources": args.resources, "rows": args.rows,
              "deliveries": [{k: None if v is None else round(v, 2) for k, v in f.items()} for f in rows],
              "median_s": {k: None if v is None else round(v, 2) for k, v in median.items()},
              "marker_to_ckan_median_s": round(median["ckan"], 2) if median["ckan"] is not None else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {out}")
    print("the Airflow services now run on the benchmark's lake: `kcdata up` in your shell points them back at yours")


if __name__ == "__main__":
    main()
