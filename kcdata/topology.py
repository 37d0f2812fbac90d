"""The DAG topology in one place: DAG ids, their order, and the Assets that chain them.

    ingest__<table>  --validated/<table>-->  transform__curated  --curated/resources/<table>-->
    govern__open_view  --open/<table>-->  publish__portal

The DAG files, the in-process runner (`kcdata.airflow_run`) and the CLI all read it from here.
Light: parsed with the DAGs (Airflow's Asset class is imported only when an Asset is made).
"""
from __future__ import annotations

from common.settings import PROJECT_ROOT

INGEST_PREFIX = "ingest__"
TRANSFORM = "transform__curated"
OPEN_VIEW = "govern__open_view"
PUBLISH = "publish__portal"


def ingest_dag_id(table: str) -> str:
    return f"{INGEST_PREFIX}{table}"


def pipeline_dag_ids(tables: list[str]) -> list[str]:
    """The order the main job runs: every ingest DAG, then transform, then the open view."""
    return [*(ingest_dag_id(t) for t in sorted(tables)), TRANSFORM, OPEN_VIEW]


def _asset(zone: str, name: str):
    from airflow.sdk import Asset

    return Asset(name=f"kcdata.{zone.replace('/', '.')}.{name}", uri=f"kcdata://lake/{zone}/{name}", group=f"kcdata-{zone.split('/')[0]}")


def validated_asset(table: str):
    """Updated when a new batch of `table` lands in lake/validated."""
    return _asset("validated", table)


def curated_asset(mart: str):
    """Updated when dbt rebuilds the mart `mart` in lake/curated."""
    return _asset("curated", mart)


def current_asset(table: str):
    """Updated when dbt rebuilds the current rows of `table` (lake/curated/resources)."""
    return _asset("curated/resources", table)


def open_asset(table: str):
    """Updated when the open view of `table` is (re)built in lake/open."""
    return _asset("open", table)


def mart_names() -> list[str]:
    """The curated marts, one per SQL file in dbt/models/marts (cheap: a directory listing)."""
    return sorted(p.stem for p in (PROJECT_ROOT / "dbt" / "models" / "marts").glob("*.sql"))
