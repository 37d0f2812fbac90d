"""
### Transform validated data into curated marts (dbt)

Scheduled on the validated Assets of every catalog resource (data-aware, not on a clock): when
any ingest DAG publishes a new validated batch, `dbt build` rebuilds staging views and the
curated Parquet marts in `lake/curated`, runs dbt's tests, and records validated → curated lineage
in the catalog. Each mart's Asset event carries its row count.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, task

from catalog.entries import load_catalog
from kcdata.assets import curated_asset, mart_names, validated_asset

with DAG(
    dag_id="transform__curated",
    schedule=AssetAny(*(validated_asset(r.table) for r in load_catalog())),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "transform", "dbt"],
    doc_md=__doc__,
) as dag:
    outlets = [curated_asset(m) for m in mart_names()]

    @task(outlets=outlets)
    def dbt_build(**context) -> dict:
        """dbt build (seeds, models, tests) over lake/validated; marts to lake/curated."""
        from kcdata.pipeline import transform

        result = transform()
        for asset in outlets:
            mart = asset.name.rsplit(".", 1)[-1]
            context["outlet_events"][asset].extra = {"rows": result.rows.get(mart), "path": str(result.marts.get(mart, ""))}
        return {"marts": {k: str(v) for k, v in result.marts.items()}, "rows": result.rows}

    dbt_build()
