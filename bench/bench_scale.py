"""Scale figures: the sample catalog grown to 1,000 resources, its DAG parsing, and a batch of
deliveries of every file-drop resource at once through the running system's one chain.

    .venv/bin/python bench/bench_scale.py                                # 1,000 resources, 2 Celery workers
    .venv/bin/python bench/bench_scale.py --executor local,celery        # LocalExecutor, then 2 Celery workers
    .venv/bin/python bench/bench_scale.py --skip-system --resources 300  # DAG parsing only (no running system)
    .venv/bin/python bench/bench_scale.py --batch 24 --rows 2000 --executor celery --workers 1,2

Configurations: `--executor` is a comma-separated list of `local` (KCDATA_EXECUTOR=local: the
scheduler's LocalExecutor, no Celery worker) and `celery` (KCDATA_EXECUTOR=celery, once per count
in `--workers`, default 2). `--executor local,celery --workers 2` measures "LocalExecutor" and
"2 Celery workers" one after the other on the same catalog and the same deliveries.

- **Catalog**: the repository's entries, plus copies of them with new codes (`KC-STHJX-001`...)
  and tables (`air_quality_hourly_x001`...) until there are `--resources` entries, in a temporary
  catalog folder (`KCDATA_CATALOG_DIR`). Every copy is a real entry: its own Assets (lineage),
  GX suite and generated dbt staging; but no DAG of its own: the topology is one chain
  (`chain__deliveries`), one pull DAG per update cycle of a pulled source, `publish__portal` and
  `govern__freshness`, whatever the catalog's size.
- **DAG parsing**: each `dags/kcdata_*.py` file parsed in a fresh process as the dag-processor
  does it (seconds per file, DAGs and tasks: the DAG count must not grow with `--resources`), and
  the parse a task process does when it starts (Airflow 3 parses the task's DAG file before
  running it): `dags/kcdata_chain.py` for `_AIRFLOW_PARSING_CONTEXT_DAG_ID=chain__deliveries`.
- **Airflow's dag-processor** alone on the scaled catalog (a fresh SQLite database): the peak
  memory of its manager process over three parse-and-write cycles of the chain and the publish DAG.
- **Batch through the running system** (needs the system lock): a system of its own, in a
  temporary state folder, with the scaled catalog, a fresh lake and inbox per configuration, and no
  reconciliation clock (`KCDATA_RECONCILE_CRON=off`); a running system of this checkout is stopped
  for the ports and started again afterwards. Every file-drop resource of the catalog (`--batch 0`,
  the default; `--batch N`: the first N of them) is approved as a department reviewer would, so the
  chain publishes it to CKAN, then gets a generated delivery of `--rows` rows at once (copies across
  the sample shapes: CSV in UTF-8 and GB18030, XLSX, JSON). The benchmark waits (at most
  `--timeout` s) until every delivered resource has a version in the catalog and no chain run is
  queued or running, then reads the chain runs started after the first marker and their task
  instances. Figures per configuration (JSON keys):
  - `all_deliveries_s`: the first marker to the end of the last chain run started after it;
  - `task_gap_p50_s`: the scheduler's hop between two tasks: for each task instance that started,
    its `queued_when` minus the end of its latest-ending upstream task instance in the same run
    (upstream from the DAG's structure as the API shows it; 0 when negative), median over every run;
  - `runs`, `runs_succeeded`, `deliveries`, `rows_per_delivery`, `versions_made` (delivered
    resources with a new version), `published` (delivered resources that the chain's `publish`
    tasks left on CKAN: published, updated or unchanged), `rows_per_s`, `resources_per_min`;
  - `queued_to_running_p50_s` / `_p95_s` and `task_run_p50_s` over every task instance,
    `hostnames` (the workers that ran them), `up_s` (the system's start with that catalog).

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
from orchestration.topology import CHAIN, PUBLISH  # noqa: E402
from stack.airflow import DEFAULT_PARSE_INTERVAL  # noqa: E402

PUBLISHED = ("published", "updated", "unchanged")  # publish actions that leave the dataset on CKAN


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
os.environ["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "ingest"
spec = importlib.util.spec_from_file_location("kcdata_chain_probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - started)
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
        best = (wall, cpu, sorted(bag.dags), sum(len(d.tasks) for d in bag.dags.values()), sorted(bag.import_errors))
print(json.dumps(best))
"""


def parse_dags(catalog: Path, resources: int, repeat: int = 3) -> dict:
    """Each DAG file parsed in a fresh process as the dag-processor does it (Airflow preloaded,
    the catalog cache warm: the catalog is unchanged between parses), best of `repeat`; and the
    chain's DAG file parsed as a task process does it (for the chain's DAG id, from a cold start)."""
    home = Path(tempfile.mkdtemp(prefix="kcdata-scale-af-"))
    env = _airflow_env(catalog, home)
    subprocess.run([sys.executable, "-c", "from catalog.entries import load_catalog; load_catalog()"], env=env,
                   check=True, capture_output=True)
    files = []
    for path in sorted((PROJECT_ROOT / "dags").glob("kcdata_*.py")):
        out = subprocess.run([sys.executable, "-c", _FILE_PARSE, str(path), str(repeat)], env=env, check=True,
                             capture_output=True, text=True)
        wall, cpu, dag_ids, tasks, errors = json.loads(out.stdout.strip().splitlines()[-1])
        if errors:
            raise SystemExit(f"{path.name}: import errors {errors}")
        files.append({"file": path.name, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "dags": len(dag_ids),
                      "dag_ids": dag_ids, "tasks": tasks})
    probe = subprocess.run([sys.executable, "-c", _TASK_PARSE, str(PROJECT_ROOT / "dags" / "kcdata_chain.py"), CHAIN],
                           env=env, check=True, capture_output=True, text=True)
    task_seconds = float(probe.stdout.split()[-1])
    shutil.rmtree(home, ignore_errors=True)
    return {"resources": resources, "files": files, "parse_seconds": round(sum(f["seconds"] for f in files), 3),
            "parse_cpu_seconds": round(sum(f["cpu_seconds"] for f in files), 3),
            "dags": sum(f["dags"] for f in files), "dag_ids": sorted(d for f in files for d in f["dag_ids"]),
            "tasks": sum(f["tasks"] for f in files), "task_parse_seconds": round(task_seconds, 3)}


_WATCHED = (CHAIN, PUBLISH)  # the chain is the DAG that reads every resource's Assets


def dag_processor_memory(catalog: Path, cycles: int = 3, limit_mib: int = 4096, timeout: float = 600) -> dict:
    """`airflow dag-processor` alone, on a fresh SQLite database and `catalog`, re-parsing every 5 s:
    the peak memory (RSS) of its manager process until the chain and the publish DAG have been parsed
    and written to the database `cycles` times (the first write only creates rows; a later one reads them back,
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


def _label(executor: str, workers: int | None) -> str:
    return "local" if executor == "local" else f"celery{workers}"


def run_batch(executor: str, workers: int | None, catalog: Path, work: Path, batch: list[str], rows: int,
              parse_interval: int | None = None, timeout: float = 3600) -> dict:
    """The system on `catalog` with `executor` (`local`, or `celery` with `workers` Celery workers;
    DAG files parsed every `parse_interval` s, if given); every code in `batch` approved, then a
    delivery for each at once; figures from the chain runs started after the first marker."""
    from unittest import mock

    from catalog.entries import forget_loaded_catalog, get_resource
    from catalog.store import open_store
    from connectors.inbox import submit_delivery
    from samples.generate import generate_resource
    from system import running

    label = _label(executor, workers)
    run_dir = work / label
    env = {"KCDATA_LAKE": str(run_dir / "lake"), "KCDATA_INBOX": str(run_dir / "inbox"),
           "KCDATA_CATALOG_DIR": str(catalog), "KCDATA_EXECUTOR": executor,
           # no reconciliation: a clock run would take deliveries of the batch in a run of its own
           "KCDATA_RECONCILE_CRON": "off"}
    if workers is not None:
        env["KCDATA_CELERY_WORKERS"] = str(workers)
    if parse_interval:
        env["KCDATA_PARSE_INTERVAL"] = str(parse_interval)
    say = lambda m: print(f"  [{label}] {m}", flush=True)  # noqa: E731
    with mock.patch.dict(os.environ, env):
        forget_loaded_catalog()
        from common.settings import get_paths

        paths = get_paths()
        resources = [get_resource(code) for code in batch]
        files = [(r, generate_resource(r, run_dir / "outbox", rows=rows, bad_share=0.02, seed=i).path)
                 for i, r in enumerate(resources)]
        started = time.monotonic()
        import stack

        stack.up(report=say, settings=running.settings())
        api = running.wait_for_dags(say, timeout=900)  # a big catalog's first parse is slow at start-up
        up_seconds = time.monotonic() - started
        store = open_store(paths.catalog_url)
        before = {code: v.version for code, v in store.latest_versions().items()}
        for resource in resources:  # the chain publishes what a reviewer approved
            store.record_approval(resource, "approve", "benchmark reviewer", note="bench/bench_scale.py")
        marked = datetime.now(timezone.utc)
        for resource, path in files:
            submit_delivery(resource, path, paths)
        say(f"{len(files)} deliveries marked in {(datetime.now(timezone.utc) - marked).total_seconds():.1f} s")
        made, timed_out = _wait_for_batch(api, store, batch, before, marked, timeout, say)
        runs = [r for r in api.runs(CHAIN, since=marked) if r.run_type != "scheduled"]
        tis = {r.run_id: api.task_instances(CHAIN, r.run_id) for r in runs}
        measured = {"runs": runs, "tis": tis, "upstream": _upstream(api), "versions_made": len(made),
                    "published": len(_published(api, runs, set(batch))), "timed_out": timed_out}
    forget_loaded_catalog()
    return _figures(executor, workers, len(files), rows, marked, measured, up_seconds)


def _wait_for_batch(api, store, codes: list[str], before: dict[str, int], marked: datetime, timeout: float,
                    say) -> tuple[dict[str, int], bool]:
    """Until every code in `codes` has a new version and no chain run is queued or running (or no
    run was active for two minutes: a delivery that was refused or failed makes no version); the
    new versions and whether `timeout` passed first."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    told = -1
    while True:
        latest = store.latest_versions()
        made = {c: latest[c].version for c in codes if c in latest and latest[c].version != before.get(c)}
        runs = api.runs(CHAIN, since=marked)
        busy = [r for r in runs if r.state in ("queued", "running")]
        if not busy and len(made) == len(codes):
            return made, False
        idle_since = None if busy or not runs else (idle_since or time.monotonic())
        if idle_since is not None and time.monotonic() - idle_since > 120:
            say(f"no chain run for 2 minutes: {len(codes) - len(made)} delivered resource(s) have no new version")
            return made, False
        if time.monotonic() > deadline:
            say(f"deadline: {len(made)}/{len(codes)} new versions, {len(busy)} chain run(s) still active")
            return made, True
        if len(made) != told:
            say(f"{len(made)}/{len(codes)} new versions, {len(runs)} chain run(s), {len(busy)} active")
            told = len(made)
        time.sleep(10)


def _upstream(api) -> dict[str, set[str]] | None:
    """task id -> the ids of its upstream tasks in the chain, from the DAG as the API shows it."""
    from common.errors import KcdataError

    try:
        tasks = api._get(f"/dags/{CHAIN}/tasks")["tasks"]
    except (KcdataError, KeyError):
        return None
    upstream: dict[str, set[str]] = {t["task_id"]: set() for t in tasks}
    for t in tasks:
        for down in t.get("downstream_task_ids") or []:
            upstream.setdefault(down, set()).add(t["task_id"])
    return upstream


def _published(api, runs: list, codes: set[str]) -> set[str]:
    """The codes among `codes` that a chain run's `publish` task left on CKAN."""
    from common.errors import KcdataError

    done: set[str] = set()
    for run in runs:
        try:
            results = api.xcom(CHAIN, run.run_id, "publish") or []
        except KcdataError:  # skipped: the run rebuilt nothing
            continue
        done |= {r["code"] for r in results if isinstance(r, dict) and r.get("code") in codes and r.get("action") in PUBLISHED}
    return done


def _task_gaps(tis_by_run: dict[str, list[dict]], upstream: dict[str, set[str]] | None) -> list[float]:
    """Per started task instance: its queued_when minus the end of its latest-ending upstream task
    instance in the same run (every map index of a mapped task), clamped at 0. Without the DAG's
    structure: the previous task instance by start."""
    gaps = []
    for tis in tis_by_run.values():
        started = sorted((t for t in tis if t.get("start_date")), key=lambda t: t["start_date"])
        ends: dict[str, list[datetime]] = {}
        for ti in tis:
            if end := _when(ti.get("end_date")):
                ends.setdefault(ti["task_id"], []).append(end)
        for i, ti in enumerate(started):
            queued = _when(ti.get("queued_when"))
            if upstream is None:
                before = [e for e in [_when(started[i - 1].get("end_date"))] if e] if i else []
            else:
                before = [e for task_id in upstream.get(ti["task_id"], ()) for e in ends.get(task_id, [])]
            if queued and before:
                gaps.append(max(0.0, (queued - max(before)).total_seconds()))
    return gaps


def _figures(executor: str, workers: int | None, deliveries: int, rows: int, marked: datetime, measured: dict,
             up_seconds: float) -> dict:
    runs, tis_by_run = measured["runs"], measured["tis"]
    ends = [r.end for r in runs if r.end]
    elapsed = (max(ends) - marked).total_seconds() if ends else None
    queued_to_running, task_seconds = [], []
    tis = [ti for items in tis_by_run.values() for ti in items]
    for ti in tis:
        queued, start, end = _when(ti.get("queued_when")), _when(ti.get("start_date")), _when(ti.get("end_date"))
        if queued and start:
            queued_to_running.append((start - queued).total_seconds())
        if start and end:
            task_seconds.append((end - start).total_seconds())
    return {
        "config": _label(executor, workers), "executor": executor, "workers": workers, "deliveries": deliveries,
        "rows_per_delivery": rows, "runs": len(runs), "runs_succeeded": sum(1 for r in runs if r.state == "success"),
        "versions_made": measured["versions_made"], "published": measured["published"],
        "all_deliveries_s": round(elapsed, 1) if elapsed else None,
        "rows_per_s": round(deliveries * rows / elapsed, 1) if elapsed else None,
        "resources_per_min": round(deliveries * 60 / elapsed, 2) if elapsed else None,
        "task_gap_p50_s": _median(_task_gaps(tis_by_run, measured["upstream"])),
        "queued_to_running_p50_s": _median(queued_to_running), "queued_to_running_p95_s": _p95(queued_to_running),
        "task_run_p50_s": _median(task_seconds), "task_instances": len(tis),
        "hostnames": sorted({ti["hostname"] for ti in tis if ti.get("hostname")}),
        "up_s": round(up_seconds, 1), "timed_out": measured["timed_out"],
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


def _configs(executors: str, workers: str) -> list[tuple[str, int | None]]:
    """(executor, Celery workers) per configuration: `local` once, `celery` once per worker count."""
    configs: list[tuple[str, int | None]] = []
    for executor in (e.strip().lower() for e in executors.split(",")):
        if executor == "local":
            configs.append(("local", None))
        elif executor == "celery":
            configs += [("celery", int(w)) for w in workers.split(",")]
        else:
            raise SystemExit(f"--executor: {executor!r} is neither local nor celery")
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--resources", type=int, default=1000, help="entries in the scaled catalog")
    parser.add_argument("--system-resources", type=int, default=None,
                        help="entries of the catalog the running system loads (default: --resources)")
    parser.add_argument("--batch", type=int, default=0,
                        help="resources delivered at once, the first N file-drop resources (0, the default: every one)")
    parser.add_argument("--rows", type=int, default=2000, help="rows per delivery")
    parser.add_argument("--executor", default="celery", help="comma-separated: local (LocalExecutor), celery (one run per --workers)")
    parser.add_argument("--workers", default="2", help="Celery worker counts to run, comma-separated (with --executor celery)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for a batch to be through")
    parser.add_argument("--parse-interval", type=int, default=None,
                        help="seconds between two parses of a DAG file on the running system (KCDATA_PARSE_INTERVAL; default 5)")
    parser.add_argument("--skip-system", action="store_true", help="DAG parsing only")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / f"scale-{date.today()}.json")
    args = parser.parse_args()
    configs = _configs(args.executor, args.workers)

    work = Path(tempfile.mkdtemp(prefix="kcdata-scale-"))
    result: dict = {"date": str(date.today()), "cores": os.cpu_count()}
    try:
        catalog = work / "catalog"
        scale_catalog(catalog, args.resources)
        result["parse"] = p = parse_dags(catalog, args.resources)
        print(f"DAG parsing, {args.resources} resources: {p['parse_seconds']:.2f} s ({p['parse_cpu_seconds']:.2f} s CPU) "
              f"for {p['dags']} DAGs ({p['tasks']} tasks): {', '.join(p['dag_ids'])}; a task process of the chain "
              f"starts (imports + its DAG file) in {p['task_parse_seconds']:.2f} s")
        for f in p["files"]:
            print(f"  {f['file']:<24} {f['seconds']:6.2f} s  {f['cpu_seconds']:6.2f} s CPU  {f['dags']:5d} DAGs  "
                  f"{f['tasks']:5d} tasks")
        result["dag_processor"] = m = dag_processor_memory(catalog)
        print(f"airflow dag-processor, {m['resources']} resources: peak {m['peak_rss_mib']} MiB over {m['cycles']} "
              f"parse-and-write cycles of {', '.join(_WATCHED)} ({m['seconds']} s)" + (f"; DIED ({m['died']})" if m["died"] else ""))
        if not args.skip_system:
            _run_system(args, configs, catalog, work, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"saved {args.json}")


def _run_system(args: argparse.Namespace, configs: list[tuple[str, int | None]], catalog: Path, work: Path,
                result: dict) -> None:
    from catalog.entries import load_catalog

    system_catalog = catalog
    if args.system_resources and args.system_resources != args.resources:
        system_catalog = work / "catalog-system"
        scale_catalog(system_catalog, args.system_resources)
    entries = load_catalog(system_catalog)
    drops = [r.code for r in entries if r.source.kind == "file_drop"]
    batch = drops[: args.batch] if args.batch else drops
    result.update({"system_resources": len(entries), "file_drop_resources": len(drops), "batch": len(batch),
                   "parse_interval_s": args.parse_interval or DEFAULT_PARSE_INTERVAL, "runs": []})
    with own_system():
        for executor, workers in configs:
            result["runs"].append(run_batch(executor, workers, system_catalog, work, batch, args.rows,
                                            args.parse_interval, args.timeout))
    _print_runs(result["runs"])


def _print_runs(runs: list[dict]) -> None:
    head = ("config", "deliveries", "all deliveries s", "chain runs", "versions", "published", "rows/s", "resources/min",
            "task gap p50", "queued→running p50", "p95", "task p50")
    print(" | ".join(head))
    for r in runs:
        print(" | ".join(str(r[k]) for k in ("config", "deliveries", "all_deliveries_s", "runs", "versions_made", "published",
                                             "rows_per_s", "resources_per_min", "task_gap_p50_s", "queued_to_running_p50_s",
                                             "queued_to_running_p95_s", "task_run_p50_s")))


if __name__ == "__main__":
    main()
