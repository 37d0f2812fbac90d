"""Airflow Assets shared by the producing and the consuming DAGs. Light: parsed with the DAGs."""
from __future__ import annotations

from airflow.sdk import Asset

from kcdata.settings import PROJECT_ROOT


def validated_asset(table: str) -> Asset:
    """Updated when a new batch of `table` lands in lake/validated."""
    return Asset(name=f"kcdata.validated.{table}", uri=f"kcdata://lake/validated/{table}", group="kcdata-validated")


def curated_asset(mart: str) -> Asset:
    """Updated when dbt rebuilds the mart `mart` in lake/curated."""
    return Asset(name=f"kcdata.curated.{mart}", uri=f"kcdata://lake/curated/{mart}", group="kcdata-curated")


def mart_names() -> list[str]:
    """The curated marts, one per SQL file in dbt/models/marts (cheap: a directory listing)."""
    return sorted(p.stem for p in (PROJECT_ROOT / "dbt" / "models" / "marts").glob("*.sql"))
