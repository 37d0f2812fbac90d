"""
### Pull the sources of one update cycle: HTTP APIs and databases

Generated from the catalog: one DAG per update cycle that has a pulled source (`pull__hourly`,
`pull__daily`, ...), at most eight, however many resources the catalog holds.

**When it runs.** On its cycle's clock (UTC).

**What it does.** `pull` asks each of the cycle's sources for what is new (a watermark per source,
committed only once the data is landed) and lands it like a delivery: an immutable raw Parquet
batch; unchanged content lands nothing. Each source has its own outcome: one that fails never
stops the others. The tables that got new data are announced through `kcdata.changes.raw`, which
starts the chain (`chain__deliveries`) to validate, transform and publish them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from catalog.entries import load_catalog
from orchestration.task_faults import stage_task
from orchestration.topology import announce_changes, changes_alias, pull_cron, pull_dag_id

_by_dag: dict[str, list[str]] = defaultdict(list)
_cycle: dict[str, str] = {}
for _resource in load_catalog():
    if _resource.source.kind != "file_drop":
        _by_dag[pull_dag_id(_resource.update_cycle.value)].append(_resource.code)
        _cycle.setdefault(pull_dag_id(_resource.update_cycle.value), _resource.update_cycle.value)


def build_pull_dag(dag_id: str, codes: list[str], cycle: str) -> DAG:
    """One pull DAG for the sources `codes` of update cycle `cycle`."""
    changes = changes_alias("raw")
    with DAG(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(pull_cron(cycle), timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["kcdata", "ingest", "pull"],
        doc_md=f"{__doc__}\n\n**{cycle}**: {', '.join(codes)}",
    ) as dag:

        @stage_task(outlets=[changes])
        def pull(**context: Any) -> list[dict]:
            """Pull and land each source of this cycle; announce the tables with new raw data."""
            from catalog.entries import get_resource
            from flow.batch import pull_batch, raise_if_any_may_pass
            from orchestration.connections import credentials_for
            from orchestration.task_context import run_link

            outcomes = pull_batch([get_resource(c) for c in codes], run=run_link(context), credentials_for=credentials_for)
            raise_if_any_may_pass(outcomes)  # a source that did not answer: retried (the others are no-ops then)
            announce_changes(context["outlet_events"], "raw", [o.table for o in outcomes if o.landed])
            return [o.to_dict() for o in outcomes]

        @task(trigger_rule="none_failed")
        def notify(outcomes: list[dict], **context: Any) -> list[dict]:
            """Tell each department and the bureau about pulled data refused as a whole."""
            from catalog.entries import get_resource
            from flow.alerts import notify_refused
            from orchestration.smtp import smtp_settings

            run_id = context["dag_run"].run_id
            return [{"code": o["code"], "refused": notify_refused(get_resource(o["code"]), o["refused"], smtp_settings=smtp_settings,
                                                                   once=run_id)}
                    for o in outcomes if o["refused"]]

        @task
        def report(outcomes: list[dict]) -> None:
            """Fail the run, naming each source that failed (the others were pulled and announced)."""
            from flow.batch import raise_failures

            raise_failures(outcomes)

        pulled = pull()
        notify(pulled) >> report(pulled)
    return dag


for _dag_id, _codes in _by_dag.items():
    globals()[_dag_id] = build_pull_dag(_dag_id, _codes, _cycle[_dag_id])
