"""The DAG topology in one place: DAG ids, their order, and the Assets that describe what they do.

    inbox/*/*.ready (one AssetWatcher over the whole inbox), a pull run's new raw batches
    (kcdata.changes.raw), or the reconciliation clock
      -> chain__deliveries: ingest (land + validate every pending delivery of every resource)
         -> notify, transform -> publish -> score_metadata, leak_gate -> report
    pull__<cycle> (one per update cycle of a pulled source): pull and land, announce raw changes
    publish__portal (by hand, or after an approval): every resource through the gate
    govern__freshness (on a clock): overdue resources, alerts

The size of this topology does not grow with the catalog: one chain, one watcher, at most one pull
DAG per update cycle. A thousand resources are a thousand folders the chain's run looks at, not a
thousand DAGs the scheduler walks and triggers the triggerer holds (that design spent 83-100 s
between two tasks at 1,000 resources). A delivery goes from marker to portal in one run: the
four asset-scheduled DAGs it used to cross cost a scheduling hop each.

Each stage still updates one Asset per resource and zone (validated/<table>, curated/resources/<table>,
open/<table>): the lineage. The ingest task adds the events of the tables it changed through the
zone's alias (`zone_alias`), so a batch of three resources makes three events, not a thousand.

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

CHAIN = "chain__deliveries"
PULL_PREFIX = "pull__"
PUBLISH = "publish__portal"
FRESHNESS = "govern__freshness"
DBT_POOL = "dbt"  # one slot: one dbt run at a time (DuckDB locks its file); created by `kcdata up`
PUBLISH_POOL = "publish"  # one slot: one publisher of the portal at a time (the chain's, or after an approval)
RECONCILE_CRON = "*/10 * * * *"  # the chain runs that pick up deliveries whose event was missed
FRESHNESS_CRON = "*/15 * * * *"
CHANGES_PREFIX = "kcdata.changes."  # the alias the chain is scheduled on for pulled data (changes_alias)
# A stage task that dies with its worker (or meets a passing fault) is run again, on whichever worker
# is free: every stage is idempotent, so a retry ends where an undisturbed run would
STAGE_RETRY = {"retries": 2, "retry_delay": timedelta(seconds=10)}


RECONCILE_OFF = ("", "off", "none")


def reconcile_cron(value: str | None) -> str | None:
    """The reconciliation cron `KCDATA_RECONCILE_CRON` asks for (default every 10 minutes); None
    for `off`: deliveries then run on their marker events alone. A reconciliation is one run of the
    chain that looks at every resource's inbox and pending raw batches."""
    value = RECONCILE_CRON if value is None else value
    return None if value.strip().lower() in RECONCILE_OFF else value


def reconcile_cron_far_from(now: datetime) -> str:
    """A daily reconciliation time 12 hours from `now`: tests and benchmarks run with it so that
    no reconciliation run lands in the middle of what they watch (a fixed
    night time does, whenever CI happens to run at that hour)."""
    return f"{now.minute} {(now.hour + 12) % 24} * * *"


def system_dag_ids(pull_cycles: list[str]) -> list[str]:
    """Every DAG the running system has, given the update cycles of its pulled sources."""
    return [CHAIN, *sorted({pull_dag_id(c) for c in pull_cycles}), PUBLISH, FRESHNESS]


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


# The pull DAGs' names, by update cycle (ASCII DAG ids).
CYCLE_SLUG = {
    "实时": "realtime", "每小时": "hourly", "每日": "daily", "每周": "weekly", "每月": "monthly",
    "每季度": "quarterly", "每半年": "half_yearly", "每年": "yearly",
}


def pull_cron(update_cycle: str) -> str:
    return PULL_CRON.get(update_cycle, "17 2 * * *")


def pull_dag_id(update_cycle: str) -> str:
    """The DAG that pulls every source of one update cycle (a cycle without a slug is pulled daily)."""
    return f"{PULL_PREFIX}{CYCLE_SLUG.get(update_cycle, 'daily')}"


def inbox_asset(inbox_root: str) -> Asset:
    """Updated when a department marks a delivery complete in any inbox/<table>/: one AssetWatcher
    on `.ready` markers over the whole inbox (see orchestration.delivery_trigger)."""
    from airflow.sdk import Asset, AssetWatcher

    from orchestration.delivery_trigger import DeliveryMarkerTrigger

    trigger = DeliveryMarkerTrigger(root=inbox_root)
    return Asset(name="kcdata.inbox", uri="kcdata://inbox", group="kcdata-inbox",
                 watchers=[AssetWatcher(name="kcdata_inbox", trigger=trigger)])


def zone_alias(zone: str) -> AssetAlias:
    """The events a task makes in `zone` (raw, validated) for just the tables it changed: a task
    adds `outlet_events[zone_alias(zone)].add(<the table's Asset>, extra=...)`. Declaring every
    table's Asset as an outlet instead would make every run an event of every table."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"kcdata.lake.{zone.replace('/', '.')}", group="kcdata-lake")


def _asset(zone: str, name: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=f"kcdata.{zone.replace('/', '.')}.{name}", uri=f"kcdata://lake/{zone}/{name}", group=f"kcdata-{zone.split('/')[0]}")


def raw_asset(table: str) -> Asset:
    """The raw batches of `table` as sent (written by landing, read by validation): named so that
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
    """What a DAG changed in `zone` (raw, for the pull DAGs): the chain is scheduled on this
    AssetAlias, and a pull run announces each table it landed through it (`announce_changes`), as
    an event of that table's `changed_asset`.

    Why an alias, not the per-table Assets: Airflow 3.3 reads a DAG's row back with its tags,
    schedule Assets and outlet Assets in one joined query (apache/airflow#72393), so a DAG scheduled
    on N Assets fetched about 3·N² copies of its schedule at every re-parse. Why not one shared
    Asset: Airflow folds the events of one Asset that arrive together into one run that sees only
    the first (apache/airflow#56050). Through an alias every table keeps an Asset of its own."""
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
