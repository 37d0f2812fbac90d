"""Scale figures: the sample catalog grown to 1,000 resources, its DAG parsing, and a batch of
deliveries through the running system with 1 and with 2 Celery workers.

    .venv/bin/python bench/bench_scale.py                        # parse 1,000 resources, then 1 and 2 workers
    .venv/bin/python bench/bench_scale.py --skip-system          # DAG parsing only (no running system)
    .venv/bin/python bench/bench_scale.py --batch 24 --rows 2000 --workers 1,2

- **Catalog**: the repository's entries, plus copies of them with new codes (`KC-STHJX-001`...)
  and tables (`air_quality_hourly_x001`...) until there are `--resources` entries, in a temporary
  catalog folder (`KCDATA_CATALOG_DIR`). Every copy is a real entry: its own ingest DAG, Assets,
  GX suite and generated dbt staging.
- **DAG parsing**: `airflow dags report` over the project's dags folder with that catalog, in a
  fresh process as the dag-processor does it (seconds per file, DAGs and tasks), and the parse a
  task process does when it starts (Airflow 3 parses the task's DAG file before running it).
- **Airflow's dag-processor** alone on the scaled catalog (a fresh SQLite database): the peak
  memory of its manager process over three parse-and-write cycles of every DAG file.
- **Batch through the running system** (needs the system lock): a system of its own, in a
  temporary state folder, on the CeleryExecutor with the scaled catalog, a fresh lake and inbox
  (a running system of this checkout is stopped for the ports and started again afterwards);
  `--batch` resources each get a generated delivery of `--rows` rows at once (copies across the
  nine sample shapes: CSV in UTF-8 and GB18030, XLSX, JSON), and the ingest runs (land →
  validate → notify) are timed from Airflow's task instances: throughput (rows per second,
  resources per minute, marker of the first delivery to the end of the last run) and the
  scheduler's overhead per task (queued → running, and the gap between one task's end and the
  next one's queueing). The downstream DAGs (dbt, open view, publish) are paused during the
  batch: dbt runs one at a time whatever the number of workers, so it is measured by
  bench_ingest.py, not here.

Results: a table on stdout and JSON under bench/results/scale-<date>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.settings import PROJECT_ROOT  # noqa: E402
from stack.airflow import DEFAULT_PARSE_INTERVAL  # noqa: E402

DOWNSTREAM = ("transform__curated", "govern__open_view", "publish__portal")


def scale_catalog(target: Path, total: int) -> list[str]:
    """Copy the sample catalog into `target` and add copies of its entries (new code and table)
    until it holds `total` entries; returns the codes of the copies, in creation order."""
    source = PROJECT_ROOT / "catalog" / "resources"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    originals = sorted(target.glob("*/*.yaml"))
    made: list[str] = []
    n = 0
    while len(originals) + len(made) < total:
        entry = originals[n % len(originals)]
        copy_no = n // len(originals) + 1
        n += 1
        text = entry.read_text(encoding="utf-8")
        code = re.search(r"^code: KC-([A-Z]+)-(\d{3})$", text, re.M)
        table = re.search(r"^table: (\w+)$", text, re.M)
        if code is None or table is None or copy_no > 999:
            raise SystemExit(f"cannot copy {entry}: no code/table line, or too many copies")
        new_code = f"KC-{code.group(1)}X-{copy_no:03d}" if int(code.group(2)) == 1 else f"KC-{code.group(1)}Y-{copy_no:03d}"
        new_table = f"{table.group(1)}_x{copy_no:03d}"
        text = text.replace(code.group(0), f"code: {new_code}", 1).replace(table.group(0), f"table: {new_table}", 1)
        (entry.parent / f"{new_table}.yaml").write_text(text, encoding="utf-8")
        made.append(new_code)
    return made


def _airflow_env(catalog: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "KCDATA_CATALOG_DIR": str(catalog), "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", "KCDATA_LAKE": str(home / "lake"),
            "KCDATA_INBOX": str(home / "inbox"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


_TASK_PARSE = """
import importlib.util, os, sys, time
started = time.perf_counter()
os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = sys.argv[2]
os.environ["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "land"
spec = importlib.util.spec_from_file_location("kcdata_ingest_probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - started, sum(1 for k in vars(module) if k.startswith("ingest__")))
"""


_FILE_PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag  # imported before timing: the dag-processor preloads Airflow
import airflow.sdk  # noqa: F401
best = None
for _ in range(int(sys.argv[2])):
    for name in [m for m in sys.modules if m.startswith("unusual_prefix")]:
        del sys.modules[name]
    from catalog.entries import forget_loaded_catalog
    forget_loaded_catalog()
    wall, cpu = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder=sys.argv[1], safe_mode=False, load_op_links=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if best is None or cpu < best[1]:
        best = (wall, cpu, len(bag.dags), sum(len(d.tasks) for d in bag.dags.values()), sorted(bag.import_errors))
print(json.dumps(best))
"""


def parse_dags(catalog: Path, resources: int, repeat: int = 3) -> dict:
    """Each DAG file parsed in a fresh process as the dag-processor does it (Airflow preloaded,
    the catalog cache warm: the catalog is unchanged between parses), best of `repeat`; and the
    ingest DAG file's parse as a task process does it (for one DAG id, from a cold start)."""
    home = Path(tempfile.mkdtemp(prefix="kcdata-scale-af-"))
    env = _airflow_env(catalog, home)
    subprocess.run([sys.executable, "-c", "from catalog.entries import load_catalog; load_catalog()"], env=env,
                   check=True, capture_output=True)
    files = []
    for path in sorted((PROJECT_ROOT / "dags").glob("kcdata_*.py")):
        out = subprocess.run([sys.executable, "-c", _FILE_PARSE, str(path), str(repeat)], env=env, check=True,
                             capture_output=True, text=True)
        wall, cpu, dags, tasks, errors = json.loads(out.stdout.strip().splitlines()[-1])
        if errors:
            raise SystemExit(f"{path.name}: import errors {errors}")
        files.append({"file": path.name, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "dags": dags,
                      "tasks": tasks})
    probe = subprocess.run([sys.executable, "-c", _TASK_PARSE, str(PROJECT_ROOT / "dags" / "kcdata_ingest.py"),
                            "ingest__air_quality_hourly"], env=env, check=True, capture_output=True, text=True)
    task_seconds, task_dags = probe.stdout.split()
    shutil.rmtree(home, ignore_errors=True)
    return {"resources": resources, "files": files, "parse_seconds": round(sum(f["seconds"] for f in files), 3),
            "parse_cpu_seconds": round(sum(f["cpu_seconds"] for f in files), 3),
            "dags": sum(f["dags"] for f in files), "tasks": sum(f["tasks"] for f in files),
            "task_parse_seconds": round(float(task_seconds), 3), "task_parse_dags": int(task_dags)}


_WATCHED = (*DOWNSTREAM, "ingest__air_quality_hourly")  # the downstream DAGs were the ones that grew


def dag_processor_memory(catalog: Path, cycles: int = 3, limit_mib: int = 4096, timeout: float = 600) -> dict:
    """`airflow dag-processor` alone, on a fresh SQLite database and `catalog`, re-parsing every 5 s:
    the peak memory (RSS) of its manager process until every DAG file has been parsed and written
    to the database `cycles` times (the first write only creates rows; a later one reads them back,
    which is where a DAG scheduled on one Asset per resource cost gigabytes). Stopped early when
    the manager passes `limit_mib`."""
    import sqlite3

    import psutil

    home = Path(tempfile.mkdtemp(prefix="kcdata-dagproc-"))
    env = {**_airflow_env(catalog, home), "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5"}
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    started = time.monotonic()
    log = (home / "dag-processor.log").open("wb")
    manager = psutil.Popen([airflow, "dag-processor"], env=env, stdout=log, stderr=subprocess.STDOUT)
    peak, seen = 0, {dag_id: set() for dag_id in _WATCHED}
    try:
        while time.monotonic() - started < timeout and manager.poll() is None:
            peak = max(peak, manager.memory_info().rss)
            if peak > limit_mib * 2**20 or min(map(len, seen.values())) >= cycles:
                break
            with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=5) as db:
                try:
                    rows = db.execute(f"SELECT dag_id, last_parsed_time FROM dag WHERE dag_id IN ({','.join('?' * len(_WATCHED))})",
                                      _WATCHED).fetchall()
                except sqlite3.OperationalError:  # locked by a write, or not there yet
                    rows = []
            for dag_id, parsed in rows:
                if parsed:
                    seen[dag_id].add(parsed)
            time.sleep(0.5)
    finally:
        died = manager.poll()  # on its own (the kernel's OOM killer, a crash), before being stopped here
        for proc in [*manager.children(recursive=True), manager]:
            proc.kill()
        manager.wait(30)
        log.close()
    result = {"resources": len(list(catalog.glob("*/*.yaml"))), "cycles": min(map(len, seen.values())),
              "peak_rss_mib": round(peak / 2**20), "limit_mib": limit_mib, "died": died,
              "seconds": round(time.monotonic() - started, 1)}
    shutil.rmtree(home, ignore_errors=True)
    return result


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _set_paused(api, dag_id: str, paused: bool) -> None:
    api._request("PATCH", f"{api.url}/api/v2/dags/{dag_id}", json={"is_paused": paused})


def run_batch(workers: int, catalog: Path, work: Path, batch: list[str], rows: int, parse_interval: int | None = None) -> dict:
    """The system on `catalog` with `workers` Celery workers (and DAG files parsed every
    `parse_interval` s, if given); a delivery for each code in `batch` at once; throughput and
    scheduler overhead from the ingest runs' task instances."""
    from unittest import mock

    from catalog.entries import forget_loaded_catalog, get_resource
    from connectors.inbox import submit_delivery
    from orchestration.topology import ingest_dag_id
    from samples.generate import generate_resource
    from system import running

    run_dir = work / f"w{workers}"
    env = {"KCDATA_LAKE": str(run_dir / "lake"), "KCDATA_INBOX": str(run_dir / "inbox"),
           "KCDATA_CATALOG_DIR": str(catalog), "KCDATA_EXECUTOR": "celery", "KCDATA_CELERY_WORKERS": str(workers),
           # no reconciliation: every ingest DAG's first start would make its latest missed one, a
           # thousand runs ahead of the deliveries
           "KCDATA_RECONCILE_CRON": "off"}
    if parse_interval:
        env["KCDATA_PARSE_INTERVAL"] = str(parse_interval)
    with mock.patch.dict(os.environ, env):
        forget_loaded_catalog()
        from common.settings import get_paths

        paths = get_paths()
        files = {}
        for i, code in enumerate(batch):
            resource = get_resource(code)
            files[code] = (resource, generate_resource(resource, run_dir / "outbox", rows=rows, bad_share=0.02, seed=i).path)
        started = time.monotonic()
        import stack

        say = lambda m: print(f"  [{workers} worker(s)] {m}", flush=True)  # noqa: E731
        stack.up(report=say, settings=running.settings())
        api = running.wait_for_dags(say, timeout=900)  # a big catalog's first parse is slow at start-up
        up_seconds = time.monotonic() - started
        for dag_id in DOWNSTREAM:
            _set_paused(api, dag_id, True)
        marked = datetime.now(timezone.utc)
        for resource, path in files.values():
            submit_delivery(resource, path, paths)
        runs = {}
        deadline = time.monotonic() + 1800
        while len(runs) < len(files) and time.monotonic() < deadline:
            for resource, _ in files.values():
                dag_id = ingest_dag_id(resource.table)
                if dag_id in runs:
                    continue
                done = [r for r in api.runs(dag_id, since=marked) if r.run_type != "scheduled" and r.finished]
                if done:
                    runs[dag_id] = done[0]
            time.sleep(2)
        tis = [dict(ti, run_queued=r.queued_at) for dag_id, r in runs.items() for ti in api.task_instances(dag_id, r.run_id)]
        for dag_id in DOWNSTREAM:
            _set_paused(api, dag_id, False)
    forget_loaded_catalog()
    return _figures(workers, len(files), rows, marked, runs, tis, up_seconds)


def _figures(workers: int, deliveries: int, rows: int, marked: datetime, runs: dict, tis: list[dict],
             up_seconds: float) -> dict:
    ends = [r.end for r in runs.values() if r.end]
    elapsed = (max(ends) - marked).total_seconds() if ends else float("nan")
    queued_to_running, gaps, task_seconds = [], [], []
    by_run: dict[str, list[dict]] = {}
    for ti in tis:
        by_run.setdefault(ti["dag_id"], []).append(ti)
        queued, start, end = _when(ti.get("queued_when")), _when(ti.get("start_date")), _when(ti.get("end_date"))
        if queued and start:
            queued_to_running.append((start - queued).total_seconds())
        if start and end:
            task_seconds.append((end - start).total_seconds())
    for items in by_run.values():
        items = sorted((t for t in items if t.get("start_date")), key=lambda t: t["start_date"])
        for before, after in zip(items, items[1:], strict=False):
            end, queued = _when(before.get("end_date")), _when(after.get("queued_when"))
            if end and queued:
                gaps.append(max(0.0, (queued - end).total_seconds()))
    succeeded = sum(1 for r in runs.values() if r.state == "success")
    hosts = sorted({ti.get("hostname") or "" for ti in tis if ti.get("hostname")})
    return {
        "workers": workers, "deliveries": deliveries, "rows_per_delivery": rows, "runs_finished": len(runs),
        "runs_succeeded": succeeded, "elapsed_s": round(elapsed, 1),
        "rows_per_s": round(deliveries * rows / elapsed, 1) if elapsed else None,
        "resources_per_min": round(deliveries * 60 / elapsed, 2) if elapsed else None,
        "queued_to_running_median_s": _median(queued_to_running), "queued_to_running_p95_s": _p95(queued_to_running),
        "end_to_next_queued_median_s": _median(gaps), "task_run_median_s": _median(task_seconds),
        "hostnames": hosts, "up_s": round(up_seconds, 1),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _p95(values: list[float]) -> float | None:
    return round(sorted(values)[max(0, int(len(values) * 0.95) - 1)], 2) if values else None


@contextmanager
def own_system() -> Iterator[None]:
    """The benchmark's system in a state folder of its own (under /var/tmp, which PostgreSQL's user
    can enter), so the checkout's system (its Airflow database, catalog, lake) never sees the
    scaled catalog; removed afterwards. A running system is stopped for the ports, and started
    again afterwards with the settings it ran with."""
    from unittest import mock

    from stack import down, get_layout, status
    from stack import secrets as sec
    from system import running

    was_running = status().running
    before = sec.load(get_layout().system_env) if was_running else {}
    if was_running:
        down()
    home = Path(tempfile.mkdtemp(prefix="kcdata-scale-system-", dir="/var/tmp"))
    home.chmod(0o755)
    try:
        with mock.patch.dict(os.environ, {"KCDATA_SYSTEM_HOME": str(home)}):
            try:
                yield
            finally:
                down()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if was_running:
            clean = {k: v for k, v in os.environ.items() if not k.startswith(("KCDATA_EXECUTOR", "KCDATA_CELERY_"))}
            with mock.patch.dict(os.environ, {**clean, **before}, clear=True):
                running.up(report=lambda m: print(f"  [restore] {m}", flush=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000, help="entries in the scaled catalog")
    parser.add_argument("--system-resources", type=int, default=None,
                        help="entries of the catalog the running system loads (default: --resources)")
    parser.add_argument("--batch", type=int, default=24, help="deliveries per configuration (resources at once)")
    parser.add_argument("--rows", type=int, default=2000, help="rows per delivery")
    parser.add_argument("--workers", default="1,2", help="Celery worker counts to run")
    parser.add_argument("--parse-interval", type=int, default=None,
                        help="seconds between two parses of a DAG file on the running system (KCDATA_PARSE_INTERVAL; default 5)")
    parser.add_argument("--skip-system", action="store_true", help="DAG parsing only")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / f"scale-{date.today()}.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kcdata-scale-"))
    result: dict = {"date": str(date.today()), "cores": os.cpu_count()}
    try:
        catalog = work / "catalog"
        scale_catalog(catalog, args.resources)
        result["parse"] = parse_dags(catalog, args.resources)
        p = result["parse"]
        print(f"DAG parsing, {args.resources} resources: {p['parse_seconds']:.2f} s ({p['parse_cpu_seconds']:.2f} s CPU) "
              f"for {p['dags']} DAGs ({p['tasks']} tasks); a task process starts (imports + its DAG) in "
              f"{p['task_parse_seconds']:.2f} s")
        for f in p["files"]:
            print(f"  {f['file']:<24} {f['seconds']:6.2f} s  {f['cpu_seconds']:6.2f} s CPU  {f['dags']:5d} DAGs  "
                  f"{f['tasks']:5d} tasks")
        result["dag_processor"] = m = dag_processor_memory(catalog)
        print(f"airflow dag-processor, {m['resources']} resources: peak {m['peak_rss_mib']} MiB over {m['cycles']} "
              f"parse-and-write cycles of every file ({m['seconds']} s)" + (f"; DIED ({m['died']})" if m["died"] else ""))
        if not args.skip_system:
            system_catalog = catalog
            if args.system_resources and args.system_resources != args.resources:
                system_catalog = work / "catalog-system"
                scale_catalog(system_catalog, args.system_resources)
            from catalog.entries import load_catalog

            copies = [r.code for r in load_catalog(system_catalog) if re.search(r"[XY]-\d{3}$", r.code)]
            batch = (copies * 2)[: args.batch]
            result["system_resources"] = len(load_catalog(system_catalog))
            result["runs"] = []
            result["parse_interval_s"] = args.parse_interval or DEFAULT_PARSE_INTERVAL
            with own_system():
                for workers in [int(w) for w in args.workers.split(",")]:
                    result["runs"].append(run_batch(workers, system_catalog, work, batch, args.rows, args.parse_interval))
            _print_runs(result["runs"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"saved {args.json}")


def _print_runs(runs: list[dict]) -> None:
    head = ("workers", "deliveries", "rows/s", "resources/min", "queued→running p50", "p95", "end→next queued p50",
            "task p50", "elapsed s")
    print(" | ".join(head))
    for r in runs:
        print(" | ".join(str(v) for v in (r["workers"], r["deliveries"], r["rows_per_s"], r["resources_per_min"],
                                         r["queued_to_running_median_s"], r["queued_to_running_p95_s"],
                                         r["end_to_next_queued_median_s"], r["task_run_median_s"], r["elapsed_s"])))


if __name__ == "__main__":
    main()
