"""The publishing tasks, shared by the chain (what its batch rebuilt) and the publish DAG (everything,
by hand or after an approval): publish through the gate, score the metadata, fail on a leak.

CKAN's address and API token come from the Airflow connection `kcdata_ckan` (host = portal URL,
password = API token), never from the repository. Imported by DAG files: light at import.
"""
from __future__ import annotations

from typing import Any

import pendulum


def publish_tasks(opened: Any = None) -> list[Any]:
    """publish -> (score_metadata, leak_gate) for the tables `opened` names (an upstream task's
    output; None: every resource). Returns the two last tasks."""
    from airflow.sdk import task

    from orchestration.topology import PUBLISH_POOL

    # a lost worker's publish runs again 10-20 s later; a portal that is down gets 30-60 s more
    # before the second retry (Airflow's backoff: 10 s x 3^(try-1), spread by a per-try hash)
    @task(retries=2, retry_delay=pendulum.duration(seconds=10), retry_exponential_backoff=3.0, pool=PUBLISH_POOL)
    def publish(tables: list[str] | None, **context: Any) -> list[dict]:
        """The resources whose open view changed (every resource, for a run by hand or after an
        approval) through the gate; returns what happened to each."""
        from dataclasses import asdict

        from airflow.sdk import Connection

        from catalog.entries import load_catalog
        from portal.client import Portal, target_from_airflow_connection
        from portal.publisher import publish_all

        if (context["dag_run"].conf or {}).get("publish") is False:
            return []  # asked to stop before the portal (in-process runs with no portal)
        if tables == []:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("no open view changed: nothing to publish")
        codes = None if tables is None else [r.code for r in load_catalog() if r.table in tables]
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

    published = publish(opened)
    return [score_metadata(published), leak_gate(published)]
