"""The main job's watch of the chain: a delivery taken by a run queued just before it was sent
(the reconciliation clock) still counts as landed, instead of waiting for an event that never comes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from orchestration.airflow_api import DagRun
from orchestration.topology import ingest_dag_id
from system.main_job import chain_state


class RecordedAirflow:
    """The runs Airflow's REST API answered in the case reported (no Airflow needed to replay it)."""

    def __init__(self, runs: dict[str, list[DagRun]]) -> None:
        self._runs = runs

    def runs(self, dag_id: str, since: datetime | None = None) -> list[DagRun]:
        return [r for r in self._runs.get(dag_id, []) if since is None or r.queued_at >= since]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return [{"task_id": "validate", "state": "success"}]


def test_a_delivery_taken_by_a_scheduled_run_queued_before_it_counts_as_landed():
    sent = datetime(2026, 11, 24, 0, 10, 5, tzinfo=timezone.utc)
    dag = ingest_dag_id("clinics")
    reconcile = DagRun(dag, "scheduled__2026-11-24T00:10:00", "success", "scheduled", sent - timedelta(seconds=5),
                       sent - timedelta(seconds=4), sent + timedelta(seconds=20), {})
    state = chain_state(RecordedAirflow({dag: [reconcile]}), ["clinics"], since=sent)
    assert state.ingest_done == 1
    assert state.stages  # the chain goes on to the transform
