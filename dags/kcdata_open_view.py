"""
### Build the open views: what of each resource may leave the bureau

Scheduled on the current rows dbt writes for every resource (`lake/curated/resources/<table>`):
for each resource whose open type allows it and that has a version that passed validation, the
governance stage writes `lake/open/<table>/batch=<fp16>/data.parquet` from dbt's output (the one
dedupe rule, the latest passing batch winning), giving each item the treatment its catalog entry
declares (keep, drop, mask, generalise or pseudonymise; core data and undeclared sensitivities get
no view), and records curated → open lineage. Each open Asset's event carries the rows and the version; the
publish DAG is scheduled on them.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, task

from catalog.entries import load_catalog
from catalog.model import OpenType
from kcdata.topology import OPEN_VIEW, STAGE_RETRY, current_asset, open_asset

_resources = load_catalog()

with DAG(
    dag_id=OPEN_VIEW,
    schedule=AssetAny(*(current_asset(r.table) for r in _resources)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "governance", "open"],
    doc_md=__doc__,
) as dag:
    outlets = {r.table: open_asset(r.table) for r in _resources if r.open.type is not OpenType.none}

    @task(outlets=list(outlets.values()), **STAGE_RETRY)
    def open_views(**context) -> dict:
        """One open view per openable resource with a passing version."""
        from kcdata.pipeline import changed_tables
        from kcdata.pipeline import open_views as build
        from kcdata.task_faults import fail_at_once_on_user_errors

        with fail_at_once_on_user_errors():
            built = build(tables=changed_tables(context, "curated.resources"))
        if not built:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("no open view changed: no publish run")
        for table, asset in outlets.items():
            view = built.get(table)
            context["outlet_events"][asset].extra = (
                {"rows": view.rows, "path": str(view.path), "withheld": view.dropped, "rebuilt": True}
                if view else {"rows": None, "rebuilt": False}
            )
        return {table: str(view.path) for table, view in built.items()}

    open_views()
