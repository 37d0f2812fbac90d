"""The DAG topology in one place: DAG ids, their order, and the Assets that chain them.

    inbox/<table>/*.ready (AssetWatcher) or a pull on the update cycle
      -> ingest__<table>  --kcdata.changes.validated-->  transform__curated
      --kcdata.changes.curated.resources-->  govern__open_view  --kcdata.changes.open-->  publish__portal
    govern__freshness (on a clock): overdue resources, alerts

Each stage updates one Asset per resource and zone (validated/<table>, curated/resources/<table>,
open/<table>): the lineage. The next stage is scheduled on the zone's *changes* alias, through
which a stage announces each table it changed (`changes_alias` says why not on the Assets).

The DAG files, the in-process runner (`orchestration.airflow_run`) and the CLI all read it from here.
Light: parsed with the DAGs (Airflow's Asset class is imported only when an Asset is made).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from common.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias
    from airflow.sdk.execution_time.context import OutletEventAccessors

INGEST_PREFIX = "ingest__"
TRANSFORM = "transform__curated"
OPEN_VIEW = "govern__open_view"
PUBLISH = "publish__portal"
FRESHNESS = "govern__freshness"
DBT_POOL = "dbt"  # one slot: one dbt run at a time (DuckDB locks its file); created by `kcdata up`
RECONCILE_CRON = "*/10 * * * *"  # the ingest runs that pick up deliveries whose event was missed
FRESHNESS_CRON = "*/15 * * * *"
CHANGES_PREFIX = "kcdata.changes."  # the aliases the downstream stages are scheduled on (changes_alias)
# A stage task that dies with its worker (or meets a passing fault) is run again, on whichever worker
# is free: every stage is idempotent, so a retry ends where an undisturbed run would
STAGE_RETRY = {"retries": 2, "retry_delay": timedelta(seconds=10)}


RECONCILE_OFF = ("", "off", "none")


def reconcile_cron(value: str | None) -> str | None:
    """The reconciliation cron `KCDATA_RECONCILE_CRON` asks for (default every 10 minutes); None
    for `off`: deliveries then run on their marker events alone. Each reconciliation is one run of
    every file-drop ingest DAG, so a catalog of a thousand resources wants it off or rare (and
    each ingest DAG's first start also makes its latest missed reconciliation run)."""
    value = RECONCILE_CRON if value is None else value
    return None if value.strip().lower() in RECONCILE_OFF else value


def reconcile_cron_far_from(now: datetime) -> str:
    """A daily reconciliation time 12 hours from `now`: tests and benchmarks run with it so that
    no reconciliation run of every ingest DAG lands in the middle of what they watch (a fixed
    night time does, whenever CI happens to run at that hour)."""
    return f"{now.minute} {(now.hour + 12) % 24} * * *"


def ingest_dag_id(table: str) -> str:
    return f"{INGEST_PREFIX}{table}"


def pipeline_dag_ids(tables: list[str]) -> list[str]:
    """The order the main job runs: every ingest DAG, then transform, then the open view."""
    return [*(ingest_dag_id(t) for t in sorted(tables)), TRANSFORM, OPEN_VIEW]


def system_dag_ids(tables: list[str]) -> list[str]:
    """Every DAG the running system has."""
    return [*pipeline_dag_ids(tables), PUBLISH, FRESHNESS]


# How often a pulled source is polled, by update cycle (UTC). A cycle missing here is polled daily.
PULL_CRON = {
    "实时": "*/5 * * * *",
    "每小时": "7 * * * *",
    "每日": "17 2 * * *",
    "每周": "17 2 * * 1",
    "每月": "17 2 1 * *",
    "每季度": "17 2 1 1,4,7,10 *",
    "每半年": "17 2 1 1,7 *",
    "每年": "17 2 2 1 *",
}


def pull_cron(update_cycle: str) -> str:
    return PULL_CRON.get(update_cycle, "17 2 * * *")


def delivery_asset(table: str, inbox_folder: str) -> Asset:
    """Updated when a department marks a delivery complete in inbox/<table>/ (an AssetWatcher
    on `.ready` markers, see orchestration.delivery_trigger)."""
    from airflow.sdk import Asset, AssetWatcher

    from orchestration.delivery_trigger import DeliveryMarkerTrigger

    trigger = DeliveryMarkerTrigger(directory=inbox_folder, poke_interval=1.0)
    return Asset(name=f"kcdata.inbox.{table}", uri=f"kcdata://inbox/{table}", group="kcdata-inbox",
                 watchers=[AssetWatcher(name=f"kcdata_inbox_{table}", trigger=trigger)])


def _asset(zone: str, name: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=f"kcdata.{zone.replace('/', '.')}.{name}", uri=f"kcdata://lake/{zone}/{name}", group=f"kcdata-{zone.split('/')[0]}")


def raw_asset(table: str) -> Asset:
    """The raw batches of `table` as sent (written by `land`, read by `validate`): named so that
    lineage events show raw -> validated / quarantine; nothing is scheduled on it."""
    return _asset("raw", table)


def validated_asset(table: str) -> Asset:
    """Updated when a new batch of `table` lands in lake/validated."""
    return _asset("validated", table)


def curated_asset(mart: str) -> Asset:
    """Updated when dbt rebuilds the mart `mart` in lake/curated."""
    return _asset("curated", mart)


def current_asset(table: str) -> Asset:
    """Updated when dbt rebuilds the current rows of `table` (lake/curated/resources)."""
    return _asset("curated/resources", table)


def open_asset(table: str) -> Asset:
    """Updated when the open view of `table` is (re)built in lake/open."""
    return _asset("open", table)


def changes_alias(zone: str) -> AssetAlias:
    """What a stage changed in `zone` (validated, curated/resources, open): the next stage is
    scheduled on this AssetAlias, and a stage announces each table it changed through it
    (`announce_changes`), as an event of that table's `changed_asset`.

    Why not schedule on the per-resource Assets: Airflow 3.3 reads a DAG's row back with its tags,
    schedule Assets and outlet Assets in one joined query (apache/airflow#72393), so a DAG scheduled
    on N Assets fetched about 3·N² copies of its N-Asset schedule at every re-parse: gigabytes at
    300 resources, and the dag-processor was killed for memory. Why not one shared Asset: Airflow
    folds the events of one Asset that arrive together into one run that sees only the first
    (apache/airflow#56050), and two ingest runs ending together would lose a table. Through an
    alias, every table keeps an Asset of its own, and the schedule stays one line."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=changes_name(zone), group="kcdata-changes")


def changed_asset(zone: str, table: str) -> Asset:
    """The signal that `table` changed in `zone` (created by Airflow when first announced)."""
    from airflow.sdk import Asset

    return Asset(name=f"{changes_name(zone)}.{table}", uri=f"kcdata://changes/{zone}/{table}", group="kcdata-changes")


def changes_name(zone: str) -> str:
    return f"{CHANGES_PREFIX}{zone.replace('/', '.')}"


def announce_changes(outlet_events: OutletEventAccessors, zone: str, tables: list[str]) -> None:
    """One event per changed table through the zone's alias (`orchestration.task_context.changed_tables`
    reads them in the next stage); nothing changed, no event, no downstream run."""
    alias = changes_alias(zone)
    for table in sorted(tables):
        outlet_events[alias].add(changed_asset(zone, table))


def mart_names() -> list[str]:
    """The curated marts, one per SQL file in dbt/models/marts (cheap: a directory listing)."""
    return sorted(p.stem for p in (PROJECT_ROOT / "dbt" / "models" / "marts").glob("*.sql"))
