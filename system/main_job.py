"""The main job on the running system (docs: Getting started): deliver the sample files as departments would,
then watch Airflow carry them through the chain (`chain__deliveries`: ingest → transform → open view → publish).

Nothing here triggers the chain by hand: the `.ready` markers are the events. Only the demo's
stand-in reviewer acts like a person would, after the data arrived: it approves the sample-made
versions and asks for a publish run (as `kcdata catalog approve` does on a running system).
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import Paths, get_paths
from orchestration.airflow_api import AirflowApi
from orchestration.topology import CHAIN, PUBLISH

RECONCILE_SLACK = timedelta(minutes=15)  # how long before the deliveries a run that takes them may have been queued


def deliver_samples(resources: list[Resource], paths: Paths, rows: int | None, bad_share: float, seed: int,
                    say: Callable[[str], None]) -> list[Resource]:
    """Generate each file-drop resource's sample file on the 'department side' (a hidden staging
    folder), then submit it: copy into the inbox, marker last. Returns the resources delivered."""
    from connectors.inbox import submit_delivery
    from samples.generate import generate_resource, manifest_path

    staging = paths.inbox / ".samples"
    delivered = []
    for r in resources:
        if r.source.kind != "file_drop":
            continue
        result = generate_resource(r, staging, rows=rows, bad_share=bad_share, seed=seed)
        manifest = manifest_path(paths.inbox, r.table)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.manifest, manifest)
        target = submit_delivery(r, result.path, paths)
        say(f"{r.code} {r.table}: {result.rows:,} rows ({result.bad_rows:,} bad) delivered -> {target}")
        delivered.append(r)
    return delivered


STAGES = {"transform": "dbt transform and open views", "publish": "publish to CKAN"}
_STAGE_STATE = {"success": "done", "skipped": "not needed", "failed": "failed", "upstream_failed": "failed"}


@dataclass
class ChainState:
    """Where the chain stands for the deliveries sent at `since`."""

    ingest_done: int = 0
    ingest_total: int = 0
    stages: dict[str, str] = field(default_factory=dict)  # task -> waiting/running/done/failed/not needed
    failed: list[str] = field(default_factory=list)
    active: bool = False  # a chain run is queued or running

    @property
    def settled(self) -> bool:
        return (self.ingest_done == self.ingest_total and not self.active
                and all(v in ("done", "not needed", "failed") for v in self.stages.values()))


def _stage(ti: dict | None) -> str:
    if ti is None or ti.get("state") in (None, "none", "scheduled", "queued", "up_for_reschedule"):
        return "waiting" if ti is None or ti.get("state") in (None, "none") else "running"
    return _STAGE_STATE.get(ti["state"], "running")


def chain_state(client: AirflowApi, tables: list[str], since: datetime, paths: Paths | None = None) -> ChainState:
    """Read the chain's runs since `since` and the inbox: how many of the delivered tables were
    taken (no marked delivery left), and how far the latest run got."""
    from connectors.inbox import marked_tables

    state = ChainState(ingest_total=len(tables))
    waiting = marked_tables(paths or get_paths())
    state.ingest_done = sum(1 for t in tables if t not in waiting)
    # a run queued a little before `since` (the reconciliation clock) may take the deliveries:
    # count it when it ended after them, or the watch would wait for an event that never comes
    runs = [r for r in client.runs(CHAIN, since=since - RECONCILE_SLACK) if not r.finished or (r.end and r.end >= since)]
    state.active = any(not r.finished for r in runs)
    for r in runs:
        if r.finished and r.state == "failed":
            failed = [t["task_id"] for t in client.task_instances(CHAIN, r.run_id) if t.get("state") == "failed"]
            state.failed.append(f"{CHAIN} {r.run_id} ({', '.join(failed) or 'failed'})")
    latest = next((r for r in reversed(runs) if not r.finished), None) or (runs[-1] if runs else None)
    if latest is None:
        state.stages = {task: "waiting" if tables else "not needed" for task in STAGES}
        return state
    tis = {t["task_id"]: t for t in client.task_instances(CHAIN, latest.run_id)}
    state.stages = {task: _stage(tis.get(task)) for task in STAGES}
    return state


def watch_chain(client: AirflowApi, tables: list[str], since: datetime, console: Console, timeout: float = 1800) -> ChainState:
    """A progress display until the chain settles (every delivery taken, no run left, every stage
    of the last run done, failed or not needed)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
               TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    settled_once, last_line = False, ""
    with Progress(*columns, console=console, transient=False) as progress:
        ingest = progress.add_task("deliveries landed + validated", total=len(tables), note="")
        stage_tasks = {task: progress.add_task(label, total=1, note="waiting") for task, label in STAGES.items()}
        while True:
            state = chain_state(client, tables, since)
            line = f"ingest {state.ingest_done}/{state.ingest_total}; " + "; ".join(
                f"{label}: {state.stages.get(task, 'waiting')}" for task, label in STAGES.items())
            if not console.is_terminal and line != last_line:  # a log, not a live display: one line per change
                console.print(line)
                last_line = line
            progress.update(ingest, completed=state.ingest_done, note=f"{state.ingest_done}/{state.ingest_total}")
            for task, progress_id in stage_tasks.items():
                note = state.stages.get(task, "waiting")
                progress.update(progress_id, completed=1 if note in ("done", "not needed", "failed") else 0, note=note)
            if state.settled and settled_once:  # twice in a row: no event in flight between two runs
                return state
            settled_once = state.settled
            if time.monotonic() > deadline:
                raise KcdataError(f"the chain has not settled after {timeout:.0f} s: {state.stages}; see `kcdata logs airflow-scheduler`")
            time.sleep(2)


def publish_after_approval(client: AirflowApi, console: Console) -> None:
    """The demo reviewer approves the sample-made versions; then one publish run, as after a real approval."""
    from system.demo import approve_for_demo

    lines = approve_for_demo()
    for line in lines:
        console.print(line)
    run_id = client.trigger(PUBLISH, conf={"reason": "approved by the demo reviewer"})
    with console.status("publishing the approved datasets (publish__portal)"):
        run = client.wait_for_run(PUBLISH, run_id, timeout=900)
    if run.state != "success":
        raise KcdataError(f"{PUBLISH} run {run_id} ended {run.state}: see `kcdata logs airflow-scheduler` and the Airflow UI")


def run_main_job(console: Console, rows: int | None, bad_share: float, seed: int, sample: bool) -> ChainState:
    """Up, deliver, watch, approve and publish; the chain's final state."""
    from catalog.entries import load_catalog
    from system import running

    client = running.up(report=lambda m: console.print(m))
    paths = get_paths()
    since = datetime.now(timezone.utc)
    resources = load_catalog()
    delivered = deliver_samples(resources, paths, rows, bad_share, seed, console.print) if sample else []
    state = watch_chain(client, [r.table for r in delivered], since, console)
    if delivered and not state.failed:
        publish_after_approval(client, console)
    return state
