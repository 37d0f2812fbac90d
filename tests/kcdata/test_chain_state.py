"""The main job's watch of the chain: a delivery taken by a run queued just before it was sent
(the reconciliation clock) still counts as landed, instead of waiting for an event that never comes;
a delivery still marked in its inbox does not."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from common.settings import Paths
from orchestration.airflow_api import DagRun
from orchestration.topology import CHAIN
from system.main_job import chain_state

SENT = datetime(2026, 11, 24, 0, 10, 5, tzinfo=timezone.utc)


class RecordedAirflow:
    """The runs Airflow's REST API answered in the case reported (no Airflow needed to replay it)."""

    def __init__(self, runs: dict[str, list[DagRun]], tasks: dict[str, str]) -> None:
        self._runs, self._tasks = runs, tasks

    def runs(self, dag_id: str, since: datetime | None = None) -> list[DagRun]:
        return [r for r in self._runs.get(dag_id, []) if since is None or r.queued_at >= since]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return [{"task_id": t, "state": s} for t, s in self._tasks.items()]


def _reconcile(state: str = "success", ended: bool = True) -> DagRun:
    return DagRun(CHAIN, "scheduled__2026-11-24T00:10:00", state if ended else "running", "scheduled",
                  SENT - timedelta(seconds=5), SENT - timedelta(seconds=4), SENT + timedelta(seconds=20) if ended else None, {})


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(lake=tmp_path / "lake", inbox=tmp_path / "inbox", catalog_dir=tmp_path / "catalog")


def test_a_delivery_taken_by_a_scheduled_run_queued_before_it_counts_as_landed(paths: Paths) -> None:
    (paths.inbox / "clinics").mkdir(parents=True)
    done = {"ingest": "success", "transform": "success", "publish": "success"}
    state = chain_state(RecordedAirflow({CHAIN: [_reconcile()]}, done), ["clinics"], since=SENT, paths=paths)
    assert state.ingest_done == 1
    assert state.stages == {"transform": "done", "publish": "done"}
    assert state.settled and not state.failed


def test_a_delivery_still_marked_is_not_landed_and_a_failed_run_is_named(paths: Paths) -> None:
    (paths.inbox / "clinics").mkdir(parents=True)
    (paths.inbox / "clinics" / "c.csv").write_text("a\n")
    (paths.inbox / "clinics" / "c.csv.queued").write_text("")
    tasks = {"ingest": "success", "transform": "failed", "publish": "upstream_failed"}
    state = chain_state(RecordedAirflow({CHAIN: [_reconcile("failed")]}, tasks), ["clinics"], since=SENT, paths=paths)
    assert state.ingest_done == 0 and not state.settled
    assert state.failed == [f"{CHAIN} scheduled__2026-11-24T00:10:00 (transform)"]
