"""
### Build the open views: what of each resource may leave the bureau

Scheduled on the `kcdata.changes.curated.resources` alias, through which the transform announces
the resources whose current rows dbt rewrote (`lake/curated/resources/<table>`): for each of them
whose open type allows it and that has a version that passed validation, the governance stage
writes `lake/open/<table>/batch=<fp16>/data.parquet` from dbt's output (the one dedupe rule, the
latest passing batch winning), giving each item the treatment its catalog entry declares (keep,
drop, mask, generalise or pseudonymise; core data and undeclared sensitivities get no view), and
records curated → open lineage. Each open Asset's event carries the rows and the version; each
rebuilt view is announced through `kcdata.changes.open`, on which the publish DAG is scheduled.
"""
from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from catalog.entries import load_catalog
from catalog.model import OpenType
from orchestration.task_faults import stage_task
from orchestration.topology import OPEN_VIEW, announce_changes, changes_alias, current_asset, open_asset

_resources = load_catalog()

with DAG(
    dag_id=OPEN_VIEW,
    schedule=changes_alias("curated/resources"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "governance", "open"],
    doc_md=__doc__,
) as dag:
    outlets = {r.table: open_asset(r.table) for r in _resources if r.open.type is not OpenType.none}
    changes = changes_alias("open")

    @stage_task(inlets=[current_asset(r.table) for r in _resources], outlets=[*outlets.values(), changes])
    def open_views(**context: Any) -> dict:
        """One open view per openable resource with a passing version."""
        from flow.pipeline import open_views as build
        from orchestration.task_context import changed_tables

        built = build(tables=changed_tables(context, "curated/resources"))
        if not built:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("no open view changed: no publish run")
        for table, asset in outlets.items():
            view = built.get(table)
            context["outlet_events"][asset].extra = (
                {"rows": view.rows, "path": str(view.path), "withheld": view.dropped, "rebuilt": True}
                if view else {"rows": None, "rebuilt": False}
            )
        announce_changes(context["outlet_events"], "open", list(built))
        return {table: str(view.path) for table, view in built.items()}

    open_views()
