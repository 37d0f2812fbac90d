"""
### Publish approved open datasets to the CKAN portal

Scheduled on the `kcdata.changes.open` alias: after every open-view build, each resource it
rebuilt goes through the publication gate (open type allows it, latest version passed validation,
a department reviewer approved it). Passing resources are created or updated in place on CKAN (one organisation per
department, one dataset per resource, CSV + Parquet + data dictionary + DataStore table, and the
signed manifest: manifest.json, manifest.json.sig, signing-key.pem); resources whose approval was
withdrawn are retracted. Re-running changes nothing. Then every dataset on the portal gets a
metadata-quality score (MQA-style, from the portal's own DCAT record and links), recorded so the
catalog web shows it and its trend. A resource in which the leak gate finds personal data is not
uploaded at all; the `leak_gate` task then fails the run with the report (resource, file, column,
rule, count; never a value), while every other resource is published and scored as usual.

CKAN's address and API token come from the Airflow connection `kcdata_ckan` (host = portal URL,
password = API token), never from the repository.
"""
from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from orchestration.topology import PUBLISH, changes_alias

with DAG(
    dag_id=PUBLISH,
    schedule=changes_alias("open"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "publish", "ckan"],
    doc_md=__doc__,
) as dag:

    @task(retries=2, retry_delay=pendulum.duration(seconds=30))
    def publish(**context: Any) -> list[dict]:
        """The resources whose open view changed (every resource, for a run by hand or after an
        approval) through the gate; returns what happened to each."""
        from dataclasses import asdict

        from airflow.sdk import Connection

        from catalog.entries import load_catalog
        from orchestration.task_context import changed_tables
        from portal.client import Portal, target_from_airflow_connection
        from portal.publisher import publish_all

        tables = changed_tables(context, "open")
        codes = None if tables is None else [r.code for r in load_catalog() if r.table in tables]
        if codes == []:
            return []
        target = target_from_airflow_connection(Connection.get("kcdata_ckan"))
        return [asdict(r) for r in publish_all(Portal(target), codes=codes)]

    @task
    def score_metadata(results: list[dict]) -> list[dict]:
        """Score what this run left on the portal (a failed score is reported, never fatal)."""
        from airflow.sdk import Connection

        from flow.pipeline import ON_PORTAL, score_metadata
        from portal.client import target_from_airflow_connection

        codes = [r["code"] for r in results if r["action"] in ON_PORTAL]
        if not codes:
            return []
        return score_metadata(target_from_airflow_connection(Connection.get("kcdata_ckan")).url, codes)

    @task
    def leak_gate(results: list[dict]) -> None:
        """Fail the run, visibly, when the leak gate blocked a resource: its report names
        resource, file, column, rule and cells (never a value); the department is e-mailed about a
        new block. The others were published."""
        from airflow.sdk.exceptions import AirflowFailException

        from flow.alerts import notify_blocked
        from flow.pipeline import leak_report
        from orchestration.smtp import smtp_settings

        report = leak_report(results)
        if report:
            notify_blocked(results, smtp_settings=smtp_settings)  # the department hears of a new block by e-mail, with what to do
            raise AirflowFailException("personal data found, not published:\n" + "\n".join(report))

    published = publish()
    score_metadata(published)
    leak_gate(published)
