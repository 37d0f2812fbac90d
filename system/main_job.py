"""The main job on the running system (docs: Getting started): deliver the sample files as departments would,
then watch Airflow carry them through the chain (ingest → transform → open view → publish).

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
from orchestration.airflow_api import AirflowApi, DagRun
from orchestration.topology import OPEN_VIEW, PUBLISH, TRANSFORM, ingest_dag_id

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


@dataclass
class ChainState:
    """Where the chain stands for the runs since `since`."""

    ingest_done: int = 0
    ingest_total: int = 0
    stages: dict[str, str] = field(default_factory=dict)  # dag_id -> waiting/running/done/failed/not needed
    failed: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.ingest_done == self.ingest_total and all(v in ("done", "not needed", "failed") for v in self.stages.values())


def _finished_after(runs: list[DagRun], after: datetime | None) -> DagRun | None:
    """The newest finished run that started at or after `after`, the start of the upstream run
    whose event it follows (an event is emitted before its run ends, so the downstream run may
    start a moment before the upstream run's end). None: none yet."""
    done = [r for r in runs if r.finished and r.start and (after is None or r.start >= after)]
    return done[-1] if done else None


def chain_state(client: AirflowApi, tables: list[str], since: datetime) -> ChainState:
    """Read the runs since `since` and decide how far the chain got."""
    state = ChainState(ingest_total=len(tables))
    last_event_end: datetime | None = None
    for table in tables:
        dag_id = ingest_dag_id(table)
        # a run queued a little before `since` (the reconciliation clock) may take the deliveries:
        # count it when it ended after them, or the chain would wait for an event that never comes
        runs = [r for r in client.runs(dag_id, since=since - RECONCILE_SLACK) if not r.finished or (r.end and r.end >= since)]
        done = [r for r in runs if r.finished]
        if done and not [r for r in runs if not r.finished]:
            state.ingest_done += 1
        for r in done:
            if r.state == "failed":
                state.failed.append(f"{dag_id} {r.run_id}")
                continue
            validate = next((t for t in client.task_instances(dag_id, r.run_id) if t["task_id"] == "validate"), None)
            if validate and validate["state"] == "success" and r.start:
                last_event_end = max(last_event_end or r.start, r.start)
    upstream_end = last_event_end  # the start of the newest upstream run that emitted an event
    for dag_id in (TRANSFORM, OPEN_VIEW, PUBLISH):
        if upstream_end is None:
            state.stages[dag_id] = "not needed"
            continue
        runs = client.runs(dag_id, since=since)
        active = [r for r in runs if not r.finished]
        latest = _finished_after(runs, upstream_end)
        if latest is not None and not active:
            state.stages[dag_id] = "done" if latest.state == "success" else "failed"
            if latest.state != "success":
                state.failed.append(f"{dag_id} {latest.run_id}")
            upstream_end = latest.start if latest.state == "success" else None
        else:
            state.stages[dag_id] = "running" if active else "waiting"
            for later in (OPEN_VIEW, PUBLISH)[(TRANSFORM, OPEN_VIEW, PUBLISH).index(dag_id):]:
                state.stages.setdefault(later, "waiting")
            break
    return state


def watch_chain(client: AirflowApi, tables: list[str], since: datetime, console: Console, timeout: float = 1800) -> ChainState:
    """A progress display until the chain settles (every stage done, failed or not needed)."""
    labels = {TRANSFORM: "dbt transform", OPEN_VIEW: "open views", PUBLISH: "publish to CKAN"}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
               TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    settled_once, last_line = False, ""
    with Progress(*columns, console=console, transient=False) as progress:
        ingest = progress.add_task("deliveries landed + validated", total=len(tables), note="")
        stage_tasks = {d: progress.add_task(label, total=1, note="waiting") for d, label in labels.items()}
        while True:
            state = chain_state(client, tables, since)
            line = f"ingest {state.ingest_done}/{state.ingest_total}; " + "; ".join(
                f"{labels[d]}: {state.stages.get(d, 'waiting')}" for d in labels)
            if not console.is_terminal and line != last_line:  # a log, not a live display: one line per change
                console.print(line)
                last_line = line
            progress.update(ingest, completed=state.ingest_done, note=f"{state.ingest_done}/{state.ingest_total}")
            for dag_id, task_id in stage_tasks.items():
                note = state.stages.get(dag_id, "waiting")
                progress.update(task_id, completed=1 if note in ("done", "not needed", "failed") else 0, note=note)
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
