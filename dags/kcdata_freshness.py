"""
### Freshness: is every resource delivered within its update cycle?

Every 15 minutes each resource's `update_cycle` is checked as a deadline against its newest
delivery. A resource not delivered in time is marked overdue in the catalog (`kcdata catalog list`
shows it) and its department and the bureau get one e-mail per overdue period; a new delivery
clears it. The `now` parameter moves the clock (for drills and tests); empty means the real time.
"""
from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from orchestration.topology import FRESHNESS, FRESHNESS_CRON

with DAG(
    dag_id=FRESHNESS,
    schedule=CronTriggerTimetable(FRESHNESS_CRON, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "governance", "freshness"],
    params={"now": Param(None, type=["null", "string"], description="ISO time to check against (default: now)")},
    doc_md=__doc__,
) as dag:

    @task
    def check(**context: Any) -> list[dict]:
        """Every resource's freshness; overdue ones marked and alerted once."""
        from datetime import datetime

        from flow.alerts import check_freshness
        from orchestration.smtp import smtp_settings

        now = context["params"].get("now")
        return check_freshness(datetime.fromisoformat(now) if now else None, smtp_settings=smtp_settings)  # the alerts sent, as dicts

    check()
