"""What the running system adds to the ingest benchmark: Airflow's task start, and publishing.

- **Airflow task start**: a real delivery (file, then `.ready` marker) of the benchmark's sample
  to the running system, whose services are pointed at the benchmark's own lake and inbox (as
  bench_latency.py does; `kcdata up` in your shell points them back at yours). The delivery is
  taken by one run of the chain (`chain__deliveries`, the first one queued after the marker): for
  each of its task instances (plan, ingest (one per map index), notify, transform,
  publish, ...) it reports queued → running (the scheduler and executor starting the task process)
  and running → first line of the task's code (the end of Airflow's "Pre Execute" log group:
  worker start-up, DAG file parse), from the task instances and task logs of the API.
- **Publish cost**: the open view of the benchmark's version, a reviewer's approval recorded in
  the benchmark's own catalog, then `publish_all` to the local CKAN in a fresh process, with the
  time spent writing the files, signing, the leak gate, uploading and loading the DataStore.
  It replaces that resource's dataset on the local portal with the benchmark's rows; the next
  publish run from your lake puts yours back.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

Report = Callable[[str], None]

PUBLISH = """
    import time
    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.settings import get_paths
    from flow.pipeline import open_views
    from kcdata.targets import ckan_target
    from portal.client import Portal
    import portal.publisher as pub

    phases = {}
    def timed(label, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - started
        return wrapper
    for label, name in (("files written", "write_files"), ("manifest signed", "sign_version"), ("leak gate", "find_leaks"),
                        ("files uploaded", "_sync_resources"), ("DataStore load", "_load_datastore")):
        setattr(pub, name, timed(label, getattr(pub, name)))
    resource = get_resource(CODE)
    started = time.perf_counter()
    open_views(tables=[resource.table])
    phases["open view"] = time.perf_counter() - started
    open_store(get_paths().catalog_url).record_approval(resource, "approve", "benchmark reviewer", note="bench/bench_ingest.py")
    started = time.perf_counter()
    results = pub.publish_all(Portal(ckan_target()), codes=[CODE])
    phases["publish total"] = time.perf_counter() - started
    action = results[0].action if results else "nothing"
    RESULT = {"phases": phases, "action": action, "note": f"{action}: " + "; ".join(results[0].reasons if results else [])}
"""


def system_running() -> bool:
    """True when this checkout's system (its state folder, KCDATA_SYSTEM_HOME) has been started
    and Airflow and CKAN answer: a system started from another checkout has another state folder,
    and bringing this one up beside it would clash on the ports."""
    from stack import get_layout
    from stack.layout import AIRFLOW_PORT, CKAN_PORT, HOST
    from stack.proc import port_open

    return get_layout().secrets_file.exists() and port_open(HOST, AIRFLOW_PORT) and port_open(HOST, CKAN_PORT)


def isolate(root: Path) -> None:
    """A benchmark's own lake, inbox, catalog and keys under `root` (never the developer's)."""
    from common.keys import ALL_KEYS, KEYS_FILE_VARIABLE, ensure_keys_file

    for name in (*ALL_KEYS, "KCDATA_CATALOG_URL"):
        os.environ.pop(name, None)
    ensure_keys_file(root / "keys.env")
    os.environ.update({KEYS_FILE_VARIABLE: str(root / "keys.env"), "KCDATA_LAKE": str(root / "lake"),
                       "KCDATA_INBOX": str(root / "inbox"), "GX_ANALYTICS_ENABLED": "False", "DO_NOT_TRACK": "1"})


def bring_up(report: Report):
    """The running system on this process's lake and inbox (the benchmark's), DAGs ready."""
    from system import running

    return running.up(report=report)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _code_started(api, dag_id: str, run_id: str, ti: dict) -> datetime | None:
    """When the task's own code began: the end of Airflow's "Pre Execute" log group."""
    path = (f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{ti['task_id']}"
            f"/logs/{max(1, int(ti.get('try_number') or 1))}")
    map_index = ti.get("map_index")
    try:
        content = (api._get(path, map_index=int(map_index)) if map_index is not None and int(map_index) >= 0
                   else api._get(path)).get("content") or []
    except Exception:  # noqa: BLE001 - a log the API cannot serve leaves the figure out, not the run
        return None
    in_pre_execute = False
    for event in content:
        if not isinstance(event, dict):
            continue
        text = str(event.get("event", ""))
        if text == "::group::Pre Execute":
            in_pre_execute = True
        elif in_pre_execute and text == "::endgroup::":
            return _when(event.get("timestamp"))
    return None


def _ti_name(ti: dict) -> str:
    """The task id, with its map index for a mapped task instance (`ingest[0]`)."""
    map_index = ti.get("map_index")
    return ti["task_id"] if map_index is None or int(map_index) < 0 else f"{ti['task_id']}[{map_index}]"


def airflow_task_start(api, resource, sample: Path, paths) -> dict:
    """Deliver `sample` as the department would and time each task of the chain run it starts."""
    import shutil

    from connectors.inbox import submit_delivery
    from orchestration.topology import CHAIN

    copy = paths.lake.parent / "outbox" / resource.table / sample.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, copy)
    marked = datetime.now(timezone.utc)
    submit_delivery(resource, copy, paths)
    run = api.wait_for_run_after(CHAIN, marked, timeout=900)
    tasks = {}
    for ti in sorted(api.task_instances(CHAIN, run.run_id), key=lambda t: t.get("start_date") or ""):
        queued, start, end = _when(ti.get("queued_when")), _when(ti.get("start_date")), _when(ti.get("end_date"))
        code = _code_started(api, CHAIN, run.run_id, ti) if start else None
        tasks[_ti_name(ti)] = {
            "state": ti.get("state"),
            "queued_to_running_s": (start - queued).total_seconds() if start and queued else None,
            "running_to_code_s": (code - start).total_seconds() if code and start else None,
            "task_s": (end - start).total_seconds() if end and start else None,
        }
    starts = [t["queued_to_running_s"] + t["running_to_code_s"] for t in tasks.values()
              if t["queued_to_running_s"] is not None and t["running_to_code_s"] is not None]
    return {
        "dag_id": CHAIN, "run_id": run.run_id, "state": run.state,
        "marker_to_queued_s": (run.queued_at - marked).total_seconds() if run.queued_at else None,
        "run_s": (run.end - run.queued_at).total_seconds() if run.end and run.queued_at else None,
        "tasks": tasks,
        "mean_task_start_s": sum(starts) / len(starts) if starts else None,
    }
