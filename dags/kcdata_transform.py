"""
### Transform validated data into curated marts (dbt)

Scheduled on the `kcdata.changes.validated` alias (data-aware, not on a clock): when any ingest
DAG publishes a new validated batch, it announces its table there, and `dbt build` rebuilds the
changed resources' current rows (`lake/curated/resources/<table>.parquet`, generated staging, one
row per key, only versions that passed validation) and the curated Parquet marts in
`lake/curated`, runs dbt's tests, and records validated → curated lineage in the catalog. Each
Asset event carries its row count; each rebuilt resource is announced through
`kcdata.changes.curated.resources` for the open-view DAG. The task runs in the one-slot `dbt`
pool: one dbt run at a time, since DuckDB locks its file.
"""
from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from catalog.entries import load_catalog
from orchestration.task_faults import stage_task
from orchestration.topology import (
    DBT_POOL,
    TRANSFORM,
    announce_changes,
    changes_alias,
    curated_asset,
    current_asset,
    mart_names,
    validated_asset,
)
from transform.project import staging_model

_resources = load_catalog()

with DAG(
    dag_id=TRANSFORM,
    schedule=changes_alias("validated"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "transform", "dbt"],
    doc_md=__doc__,
) as dag:
    outlets = {m: curated_asset(m) for m in mart_names()} | {staging_model(r): current_asset(r.table) for r in _resources}
    tables = {staging_model(r): r.table for r in _resources}
    changes = changes_alias("curated/resources")

    @stage_task(inlets=[validated_asset(r.table) for r in _resources], outlets=[*outlets.values(), changes], pool=DBT_POOL)
    def dbt_build(**context: Any) -> dict:
        """dbt build of what the changed resources feed (all, for a run by hand); marts to lake/curated."""
        from flow.pipeline import transform
        from orchestration.task_context import changed_tables

        result = transform(tables=changed_tables(context, "validated"))
        if not result.marts:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("nothing changed upstream: nothing rebuilt, no downstream run")
        for model, asset in outlets.items():
            context["outlet_events"][asset].extra = {
                "rows": result.rows.get(model), "path": str(result.marts.get(model, "")), "rebuilt": model in result.marts,
            }
        announce_changes(context["outlet_events"], "curated/resources", [t for m, t in tables.items() if m in result.marts])
        return {"marts": {k: str(v) for k, v in result.marts.items()}, "rows": result.rows}

    dbt_build()
