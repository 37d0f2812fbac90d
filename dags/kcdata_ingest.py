"""
### Ingest one data resource: land → validate → notify

Generated from the catalog (`catalog/resources/<department>/*.yaml`): one DAG per resource, no
Python per dataset.

**When it runs.** A file-drop resource runs when its department marks a delivery complete: an
`AssetWatcher` sees the `<file>.ready` marker in `inbox/<table>/` (written last, by the
department or by `kcdata submit`), plus a reconciliation run every 10 minutes that picks up any
delivery whose event was missed. A pulled resource (HTTP API, database) runs on its update cycle.

**What it does.** `land` reads every marked file waiting in the inbox (or pulls the source) into an
immutable raw Parquet batch as sent; the same content twice is a no-op, so coalesced events and
re-runs are safe. Refused files are recorded with feedback for the department and archived.
`validate` types and checks every pending batch with the resource's Great Expectations suite,
splits rows into `lake/validated` and `lake/quarantine`, records the versions (linked to this run)
and updates the resource's validated Asset with counts, fingerprints and versions, and announces
the table through the `kcdata.changes.validated` alias, which schedules the transform DAG. With
nothing new it is skipped, and nothing downstream runs. `notify` e-mails the department and the
bureau about refused deliveries and failed versions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, get_parsing_context, task

from catalog.entries import load_catalog
from common.settings import get_paths, read_settings
from orchestration.task_faults import stage_task
from orchestration.topology import (
    announce_changes,
    changes_alias,
    delivery_asset,
    ingest_dag_id,
    pull_cron,
    raw_asset,
    reconcile_cron,
    validated_asset,
)

if TYPE_CHECKING:
    from airflow.sdk import Asset


def _schedule(table: str, kind: str, update_cycle: str) -> CronTriggerTimetable | Asset | AssetOrTimeSchedule:
    if kind != "file_drop":
        return CronTriggerTimetable(pull_cron(update_cycle), timezone="UTC")
    delivered = delivery_asset(table, str((get_paths().inbox / table).absolute()))
    cron = reconcile_cron(read_settings().reconcile_cron)
    if cron is None:
        return delivered
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=delivered)


def build_ingest_dag(code: str, table: str, kind: str, update_cycle: str, tags: list[str], doc: str) -> DAG:
    """One land → validate → notify DAG for the resource `code`."""
    asset, raw, changes = validated_asset(table), raw_asset(table), changes_alias("validated")
    with DAG(
        dag_id=ingest_dag_id(table),
        schedule=_schedule(table, kind, update_cycle),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["kcdata", "ingest", *tags],
        doc_md=doc,
    ) as dag:

        @stage_task(outlets=[raw])
        def land(**context: Any) -> dict:
            """Land every complete delivery (or pull the source); refused files are recorded and archived."""
            from catalog.entries import get_resource
            from flow.pipeline import land_source, log_landing
            from orchestration.connections import credentials_for
            from orchestration.task_context import run_link

            return log_landing(land_source(get_resource(code), run=run_link(context), credentials_for=credentials_for)).to_dict()

        @stage_task(inlets=[raw], outlets=[asset, changes])
        def validate(landing: dict[str, Any], **context: Any) -> list[dict]:
            """Validate every pending raw batch, record the versions with this run, describe them on the asset event."""
            from airflow.sdk.exceptions import AirflowSkipException

            from catalog.entries import get_resource
            from flow.pipeline import event_extra, log_results, validate_pending
            from orchestration.task_context import run_link

            results = log_results(validate_pending(get_resource(code), run=run_link(context)))
            if not results:
                raise AirflowSkipException("nothing new to validate: no downstream run")
            context["outlet_events"][asset].extra = event_extra(code, results, landing["refused"])
            announce_changes(context["outlet_events"], "validated", [table])
            return [r.to_dict() for r in results]

        @task(trigger_rule="none_failed")
        def notify(landing: dict, results: list[dict] | None) -> dict:
            """Tell the department and the bureau about refused deliveries and failed versions."""
            from catalog.entries import get_resource
            from flow.alerts import notify_failed, notify_refused
            from orchestration.smtp import smtp_settings

            resource = get_resource(code)
            failed = [r for r in (results or []) if not r["outcome"]["passed"]]
            return {"refused": notify_refused(resource, landing["refused"], smtp_settings=smtp_settings),
                    "failed": notify_failed(resource, failed, smtp_settings=smtp_settings)}

        landing = land()
        notify(landing, validate(landing))
    return dag


# A task process needs only its own DAG (Airflow sets the parsing context when it runs a task):
# building the other 999 of a 1,000-resource catalog would cost ~2 s at every task start.
_only = get_parsing_context().dag_id
for _resource in load_catalog():
    if _only and _only != ingest_dag_id(_resource.table):
        continue
    _dag = build_ingest_dag(
        _resource.code,
        _resource.table,
        _resource.source.kind,
        _resource.update_cycle.value,
        [_resource.provider.slug, _resource.code],
        f"{__doc__}\n\n**{_resource.code} {_resource.name}** ({_resource.name_en}) — {_resource.provider.name}",
    )
    globals()[_dag.dag_id] = _dag
