"""
### The chain: every pending delivery, from the inbox to the portal, in one run

Generated from the catalog (`catalog/resources/<department>/*.yaml`): one DAG for the whole
catalog, however many resources it holds, and no Python per dataset.

**When it runs.** When a department marks a delivery complete: one `AssetWatcher` over the whole
inbox sees the `<file>.ready` marker in `inbox/<table>/` (written last, by the department or by
`kcdata submit`). When a pull run (`pull__<cycle>`) landed new data from an HTTP API or a
database. And on the reconciliation clock, which picks up any delivery whose event was missed.
One run at a time; an event that arrives during a run starts the next one, which takes
everything that arrived meanwhile.

**What it does.**
- `plan` chooses the resources to take (those with marked deliveries, or announced by a pull)
  and splits them into at most `KCDATA_CHAIN_WAYS` (2) groups of about equal work; each group is
  one `ingest` task, so groups run in parallel on free workers.
- `ingest` lands every marked delivery of its resources (files as sent, into immutable raw
  Parquet batches; the same content twice is a no-op), then types and checks every pending batch
  with the resource's rules, splits rows into `lake/validated` and `lake/quarantine` and records
  the versions, linked to this run. Refused files are recorded with feedback for the department
  and archived. Each resource has its own outcome: a refused file, a held-back version or a
  failing resource never stops the others. A run by hand or by the clock looks at every
  resource; `conf={"tables": [...]}` takes those instead (and any with a marked delivery waiting).
- `notify` e-mails the departments and the bureau about refused deliveries and held-back versions.
- `transform` rebuilds what the changed resources feed (their current rows and the curated marts),
  with one dbt build for the whole batch (`conf={"rebuild": true}`: everything), then writes what
  of each rebuilt resource may leave the bureau (its open view).
- `publish` takes each rebuilt open view through the publication gate to CKAN, `score_metadata`
  scores what is on the portal, and `leak_gate` fails the run when personal data blocked a
  resource (`conf={"publish": false}` stops before the portal).
- `report` ends the run failed, naming each resource that failed, when any did.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, task

from catalog.entries import load_catalog
from catalog.model import OpenType
from common.settings import get_paths, read_settings
from orchestration.publish_tasks import publish_tasks
from orchestration.task_faults import stage_task
from orchestration.topology import (
    CHAIN,
    DBT_POOL,
    changes_alias,
    curated_asset,
    current_asset,
    inbox_asset,
    mart_names,
    open_asset,
    reconcile_cron,
    validated_asset,
    zone_alias,
)
from transform.project import staging_model

_resources = load_catalog()


def _schedule() -> AssetAny | AssetOrTimeSchedule:
    events = AssetAny(inbox_asset(str(get_paths().inbox.absolute())), changes_alias("raw"))
    cron = reconcile_cron(read_settings().reconcile_cron)
    if cron is None:
        return events
    # run_immediately=0: a new system's first clock run is the next tick, never one made at once
    # for the tick just missed (it would take the first deliveries by the clock, not by their events)
    clock = CronTriggerTimetable(cron, timezone="UTC", run_immediately=timedelta(0))
    return AssetOrTimeSchedule(timetable=clock, assets=events)


with DAG(
    dag_id=CHAIN,
    schedule=_schedule(),
    # no start_date: the clock's first run is its next tick, not one made at once for the latest
    # tick missed (which would take the first deliveries of a new system by the clock, not by their events)
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "ingest", "transform", "publish"],
    doc_md=__doc__,
) as dag:
    validated = zone_alias("validated")

    @stage_task()
    def plan(**context: Any) -> list[list[str]]:
        """The resources this run takes, in at most KCDATA_CHAIN_WAYS groups of about equal work."""
        from connectors.inbox import marked_tables
        from flow.batch import choose_resources, split
        from orchestration.task_context import changed_tables, started_by_event

        conf = context["dag_run"].conf or {}
        asked = conf.get("tables")
        by_event = started_by_event(context)
        tables = asked if asked is not None else ((changed_tables(context, "raw") or []) if by_event else None)
        return split(choose_resources(_resources, tables=tables, marked=marked_tables()), read_settings().chain_ways)

    @stage_task(outlets=[validated])
    def ingest(tables: list[str], **context: Any) -> dict[str, Any]:
        """Land and validate every pending delivery of this group's resources, in one process."""
        from flow.batch import ingest_batch
        from orchestration.task_context import run_link

        chosen = [r for r in _resources if r.table in set(tables)]
        outcomes = ingest_batch(chosen, run=run_link(context))
        for o in outcomes:
            if o.event is not None:
                context["outlet_events"][validated].add(validated_asset(o.table), extra=o.event)
        return {"outcomes": [o.to_dict() for o in outcomes if o.changed or o.refused or o.error],
                "changed": sorted(o.table for o in outcomes if o.changed)}

    @task(trigger_rule="none_failed", retries=2, retry_delay=pendulum.duration(seconds=10))
    def notify(groups: list[dict[str, Any]], **context: Any) -> list[dict]:
        """Tell each department and the bureau about refused deliveries and held-back versions,
        once each: a retry does not send again what an earlier try sent."""
        from catalog.entries import get_resource
        from flow.alerts import notify_failed, notify_refused
        from orchestration.smtp import smtp_settings

        run_id = context["dag_run"].run_id
        sent = []
        for o in (o for group in groups or [] for o in group["outcomes"]):
            resource = get_resource(o["code"])
            failed = [r for r in o["results"] if not r["outcome"]["passed"]]
            sent.append({"code": o["code"],
                         "refused": notify_refused(resource, o["refused"], smtp_settings=smtp_settings, once=run_id),
                         "failed": notify_failed(resource, failed, smtp_settings=smtp_settings, once=True)})
        return sent

    models = {staging_model(r): r.table for r in _resources}
    dbt_outlets = {m: curated_asset(m) for m in mart_names()} | {staging_model(r): current_asset(r.table) for r in _resources}
    open_outlets = {r.table: open_asset(r.table) for r in _resources if r.open.type is not OpenType.none}

    @stage_task(inlets=[validated_asset(r.table) for r in _resources],
                outlets=[*dbt_outlets.values(), *open_outlets.values()], pool=DBT_POOL)
    def transform(groups: list[dict[str, Any]], **context: Any) -> list[str]:
        """One dbt build of what the batch's changed resources feed, then the open view of each
        rebuilt resource that may be opened; the tables whose open view it wrote. One task, not
        two: the hand-off cost more than the open views themselves."""
        from airflow.sdk.exceptions import AirflowSkipException

        from flow.pipeline import open_views
        from flow.pipeline import transform as build

        changed = sorted({t for group in groups or [] for t in group["changed"]})
        rebuild = bool((context["dag_run"].conf or {}).get("rebuild"))
        if not changed and not rebuild:
            raise AirflowSkipException("nothing new was validated: nothing to rebuild or publish")
        result = build(tables=None if rebuild else changed)
        if not result.marts:
            raise AirflowSkipException("nothing changed upstream: nothing rebuilt, nothing to publish")
        for model, asset in dbt_outlets.items():
            context["outlet_events"][asset].extra = {
                "rows": result.rows.get(model), "path": str(result.marts.get(model, "")), "rebuilt": model in result.marts,
            }
        views = open_views(tables=sorted(t for m, t in models.items() if m in result.marts))
        for table, asset in open_outlets.items():
            view = views.get(table)
            context["outlet_events"][asset].extra = (
                {"rows": view.rows, "path": str(view.path), "withheld": view.dropped, "rebuilt": True}
                if view else {"rows": None, "rebuilt": False}
            )
        return sorted(views)

    @task(trigger_rule="all_done")
    def report(groups: list[dict[str, Any]]) -> None:
        """Fail the run, naming each resource that failed in the batch (the others went through)."""
        from flow.batch import raise_failures

        raise_failures([o for group in groups or [] for o in group["outcomes"]])

    groups = ingest.expand(tables=plan())
    told = notify(groups)
    portal = publish_tasks(transform(groups))
    [told, *portal] >> report(groups)
