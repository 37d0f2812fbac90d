"""
### Transform validated data into curated marts (dbt)

Scheduled on the validated Assets of every catalog resource (data-aware, not on a clock): when
any ingest DAG publishes a new validated batch, `dbt build` rebuilds the changed resources' current rows
(`lake/curated/resources/<table>.parquet`, generated staging, one row per key, only versions that
passed validation) and the curated Parquet marts in `lake/curated`, runs dbt's tests, and records
validated → curated lineage in the catalog. Each Asset event carries its row count. The task runs
in the one-slot `dbt` pool: one dbt run at a time, since DuckDB locks its file.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, task

from catalog.entries import load_catalog
from kcdata.topology import DBT_POOL, STAGE_RETRY, TRANSFORM, curated_asset, current_asset, mart_names, validated_asset
from transform.project import staging_model

_resources = load_catalog()

with DAG(
    dag_id=TRANSFORM,
    schedule=AssetAny(*(validated_asset(r.table) for r in _resources)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "transform", "dbt"],
    doc_md=__doc__,
) as dag:
    outlets = {m: curated_asset(m) for m in mart_names()} | {staging_model(r): current_asset(r.table) for r in _resources}

    @task(outlets=list(outlets.values()), pool=DBT_POOL, **STAGE_RETRY)
    def dbt_build(**context) -> dict:
        """dbt build of what the changed resources feed (all, for a run by hand); marts to lake/curated."""
        from kcdata.pipeline import changed_tables, transform
        from kcdata.task_faults import fail_at_once_on_user_errors

        with fail_at_once_on_user_errors():
            result = transform(tables=changed_tables(context, "validated"))
        if not result.marts:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("nothing changed upstream: nothing rebuilt, no downstream run")
        for model, asset in outlets.items():
            context["outlet_events"][asset].extra = {
                "rows": result.rows.get(model), "path": str(result.marts.get(model, "")), "rebuilt": model in result.marts,
            }
        return {"marts": {k: str(v) for k, v in result.marts.items()}, "rows": result.rows}

    dbt_build()
