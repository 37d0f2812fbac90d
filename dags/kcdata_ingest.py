"""
### Ingest one data resource: land → validate

Generated from the catalog (`catalog/resources/<department>/*.yaml`): one DAG per resource, no
Python per dataset. `land` reads every file waiting in `inbox/<table>/` into an immutable raw
Parquet batch (same file twice = no-op); `validate` runs the resource's Great Expectations suite,
splits rows into `lake/validated` and `lake/quarantine`, records the version in the catalog and
updates the resource's Asset with row counts and fingerprints, which schedules the transform DAG.
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
        def land() -> list[dict]:
            """Land every waiting file of this resource as a raw batch."""
            from catalog.entries import get_resource
            from kcdata.pipeline import land_inbox

            return [b.to_dict() for b in land_inbox(get_resource(code))]

        @task(outlets=[asset])
        def validate(batches: list[dict], **context) -> list[dict]:
            """Validate the batches, record versions, and describe them on the asset event."""
            from catalog.entries import get_resource
            from kcdata.pipeline import validate_landed

            results = validate_landed(get_resource(code), batches)
            outcomes = [r.outcome for r in results]
            context["outlet_events"][asset].extra = {
                "resource": code,
                "batches": [o.fingerprint[:16] for o in outcomes],
                "fingerprints": [o.fingerprint for o in outcomes],
                "rows": sum(o.rows for o in outcomes),
                "accepted": sum(o.accepted for o in outcomes),
                "quarantined": sum(o.quarantined for o in outcomes),
                "versions": [r.version for r in results],
                "passed": all(o.passed for o in outcomes),
                "held_back": [o.fingerprint[:16] for o in outcomes if not o.passed],
            }
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
