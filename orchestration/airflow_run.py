"""Run the project's DAGs through Airflow in this process (`dag.test()`), for tests of single DAGs.

The main job uses the running system instead (`kcdata up`, system/main_job.py).

The DAGs are parsed from dags/ by Airflow's own DagBag, exactly as the dag-processor would, and
each run goes through Airflow's task runner, XCom and asset events.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors import KcdataError
from common.settings import PROJECT_ROOT
from orchestration.airflow_env import configure, migrate_metadata_db
from orchestration.topology import CHAIN, PUBLISH

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from portal.client import CkanTarget


@dataclass
class DagRunSummary:
    dag_id: str
    state: str
    tasks: dict[str, str]


def load_dags() -> dict:
    """Parse dags/ with Airflow's DagBag; import errors are fatal and named."""
    configure()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"), safe_mode=False)
    if bag.import_errors:
        raise KcdataError("DAG import errors: " + "; ".join(f"{k}: {v}" for k, v in bag.import_errors.items()))
    return bag.dags


def run_dag(dag: DAG, conf: dict | None = None) -> DagRunSummary:
    """One DagRun of `dag` via dag.test() (with `conf`); raises when any task fails."""
    run = dag.test(run_conf=conf)
    tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    state = str(run.state)
    if state != "success":
        raise KcdataError(f"DAG {dag.dag_id} ended {state}: tasks {tasks}; see {configure() / 'logs'}")
    return DagRunSummary(dag.dag_id, state, tasks)


def run_pipeline(tables: list[str] | None = None, on_done: Callable[[DagRunSummary], object] | None = None) -> list[DagRunSummary]:
    """One run of the chain for every resource (or those of `tables`), up to the open views: the
    portal is left to `run_publish`."""
    migrate_metadata_db()
    conf: dict = {"publish": False}
    if tables is not None:
        conf["tables"] = tables
    summary = run_dag(load_dags()[CHAIN], conf)
    if on_done:
        on_done(summary)
    return [summary]


def run_publish(target: CkanTarget) -> DagRunSummary:
    """The publish DAG, with CKAN reached through the Airflow connection `kcdata_ckan`, which is
    given to this process only (environment), never written to disk or logged."""
    import json
    import os

    os.environ["AIRFLOW_CONN_KCDATA_CKAN"] = json.dumps({"conn_type": "http", "host": target.url, "password": target.token})
    return run_dag(load_dags()[PUBLISH])
