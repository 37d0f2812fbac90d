"""
### Ingest one data resource: land → validate

Generated from the catalog (`catalog/resources/<department>/*.yaml`): one DAG per resource, no
Python per dataset. `land` reads every file waiting in `inbox/<table>/` into an immutable raw
Parquet batch as sent (same file twice = no-op), refuses what cannot be read (recorded in the
catalog, with feedback for the department) and archives each file; `validate` types and checks
every pending batch with the resource's Great Expectations suite (new deliveries, and older ones
again when the entry's rules changed), splits rows into `lake/validated` and `lake/quarantine`,
records the versions and updates the resource's Asset with row counts, held-back versions and
refused files, which schedules the transform DAG.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from catalog.entries import load_catalog
from kcdata.topology import ingest_dag_id, validated_asset


def build_ingest_dag(code: str, table: str, tags: list[str], doc: str) -> DAG:
    """One land → validate DAG for the resource `code`."""
    asset = validated_asset(table)
    with DAG(
        dag_id=ingest_dag_id(table),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["kcdata", "ingest", *tags],
        doc_md=doc,
    ) as dag:

        @task
        def land() -> dict:
            """Land every delivery waiting in the inbox (refused files are recorded and archived)."""
            from catalog.entries import get_resource
            from kcdata.pipeline import land_inbox, log_landing

            return log_landing(land_inbox(get_resource(code))).to_dict()

        @task(outlets=[asset])
        def validate(landing: dict, **context) -> list[dict]:
            """Validate every pending raw batch (new deliveries, and old ones whose rules changed),
            record the versions, and describe them, refusals included, on the asset event."""
            from catalog.entries import get_resource
            from kcdata.pipeline import event_extra, log_results, validate_pending

            results = log_results(validate_pending(get_resource(code)))
            context["outlet_events"][asset].extra = event_extra(code, results, landing["refused"])
            return [r.to_dict() for r in results]

        validate(land())
    return dag


for _resource in load_catalog():
    _dag = build_ingest_dag(
        _resource.code,
        _resource.table,
        [_resource.provider.slug, _resource.code],
        f"{__doc__}\n\n**{_resource.code} {_resource.name}** ({_resource.name_en}) — {_resource.provider.name}",
    )
    globals()[_dag.dag_id] = _dag
