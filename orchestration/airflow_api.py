"""The running Airflow, through its REST API (v2): what the CLI and the tests ask the scheduler.

Signs in as the generated admin (password read from the system's secrets file, never printed)
and keeps the JWT for the session. Only the calls kcdata needs: DAGs, runs, triggering, task
instances, import errors.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from common.errors import KcdataError


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    run_type: str
    queued_at: datetime | None
    start: datetime | None
    end: datetime | None
    conf: dict

    @property
    def finished(self) -> bool:
        return self.state in ("success", "failed")


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class AirflowApi:
    """A signed-in client of the api-server."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        reply = self._http.post(f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=timeout)
        if reply.status_code not in (200, 201):
            raise KcdataError(f"Airflow at {self.url} refused the sign-in (HTTP {reply.status_code})")
        self._http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def _get(self, path: str, **params: str | int) -> dict[str, Any]:
        reply = self._request("GET", f"{self.url}/api/v2{path}", params=params)
        if reply.status_code != 200:
            raise KcdataError(f"Airflow GET {path}: HTTP {reply.status_code} {reply.text[:300]}")
        return reply.json()

    def _request(self, method: str, url: str, patience: float = 90.0, **kwargs: Any) -> requests.Response:
        """One call; while the api-server restarts (settings changed, supervisord restarting it after
        a crash) connection errors are retried for up to `patience` seconds, and so is a read that
        timed out when the call only reads (a GET changes nothing, so asking again is safe)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return self._http.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.ReadTimeout) as exc:
                if isinstance(exc, requests.ReadTimeout) and method != "GET":
                    raise KcdataError(f"Airflow at {self.url} did not answer {method} {url} within {self.timeout:.0f} s") from exc
                if time.monotonic() > deadline:
                    raise KcdataError(f"Airflow at {self.url} does not answer: {exc.__class__.__name__} (`kcdata status`)") from exc
                time.sleep(2)

    def dags(self) -> dict[str, dict]:
        """dag_id -> the DAG as the API shows it (is_paused, ...), every page: the api-server
        returns at most `[api] maximum_page_limit` (100) DAGs per call."""
        found: dict[str, dict] = {}
        while True:
            page = self._get("/dags", limit=100, offset=len(found), order_by="dag_id")
            found.update({d["dag_id"]: d for d in page["dags"]})
            if not page["dags"] or len(found) >= page.get("total_entries", 0):
                return found

    def import_errors(self) -> list[dict]:
        return self._get("/importErrors", limit=100)["import_errors"]

    def unpause(self, dag_id: str) -> None:
        reply = self._request("PATCH", f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": False})
        if reply.status_code != 200:
            raise KcdataError(f"Airflow: could not unpause {dag_id}: HTTP {reply.status_code}")

    def runs(self, dag_id: str = "~", since: datetime | None = None) -> list[DagRun]:
        """Runs of one DAG (or every DAG with "~"), oldest first, queued at or after `since`."""
        params: dict[str, str | int] = {"limit": 1000, "order_by": "run_after"}
        if since is not None:
            params["run_after_gte"] = since.astimezone(timezone.utc).isoformat()
        found = self._get(f"/dags/{dag_id}/dagRuns", **params)["dag_runs"]
        return [
            DagRun(r["dag_id"], r["dag_run_id"], r["state"], r["run_type"], _when(r.get("queued_at")),
                   _when(r.get("start_date")), _when(r.get("end_date")), r.get("conf") or {})
            for r in found
        ]

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a run now; its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        reply = self._request("POST", f"{self.url}/api/v2/dags/{dag_id}/dagRuns", json=body)
        if reply.status_code not in (200, 201):
            raise KcdataError(f"Airflow: could not trigger {dag_id}: HTTP {reply.status_code} {reply.text[:300]}")
        return reply.json()["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> object:
        return self._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                         deserialize=True).get("value")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> DagRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = next((r for r in self.runs(dag_id) if r.run_id == run_id), None)
            if run is not None and run.finished:
                return run
            time.sleep(1)
        raise KcdataError(f"Airflow: {dag_id} run {run_id} not finished after {timeout:.0f} s")

    def wait_for_run_after(self, dag_id: str, after: datetime, timeout: float = 600, every: float = 1.0) -> DagRun:
        """The first run of `dag_id` queued after `after` that the clock did not start, once finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [r for r in self.runs(dag_id, since=after) if r.queued_at and r.queued_at >= after and r.run_type != "scheduled"]
            if runs and runs[0].finished:
                return runs[0]
            time.sleep(every)
        raise KcdataError(f"Airflow: {dag_id}: no finished run after {after:%H:%M:%S} within {timeout:.0f} s")

    def triggered_by(self, run: DagRun) -> set[tuple[str, str]]:
        """The (dag_id, run_id) of every run whose Asset events started `run` (Airflow's upstream
        events of an Asset-triggered run; empty for a run started otherwise)."""
        events = self._get(f"/dags/{run.dag_id}/dagRuns/{run.run_id}/upstreamAssetEvents")["asset_events"]
        return {(e["source_dag_id"], e["source_run_id"]) for e in events if e.get("source_run_id")}

    def wait_for_run_triggered_by(self, dag_id: str, source: DagRun, timeout: float = 600) -> DagRun:
        """The run of `dag_id` that events of the run `source` started, once finished: the next
        step of one delivery's chain, however many other runs go on beside it."""
        deadline = time.monotonic() + timeout
        others: set[str] = set()  # runs started by other events (a run's events never change)
        while time.monotonic() < deadline:
            for run in self.runs(dag_id, since=source.start):
                if run.run_id in others:
                    continue
                if (source.dag_id, source.run_id) not in self.triggered_by(run):
                    others.add(run.run_id)
                elif run.finished:
                    return run
            time.sleep(1)
        raise KcdataError(f"Airflow: no finished {dag_id} run started by {source.dag_id} {source.run_id} within {timeout:.0f} s")

    def wait_for_task_state(self, dag_id: str, since: datetime, task_id: str, state: str,
                            timeout: float = 420) -> tuple[str, dict]:
        """The latest run of `dag_id` queued after `since`, once its `task_id` is in `state` (for
        `running`: on a worker that reported its hostname); the run id and the task instance."""
        deadline = time.monotonic() + timeout
        seen = "no run"
        while time.monotonic() < deadline:
            runs = [r for r in self.runs(dag_id, since=since) if r.queued_at and r.queued_at >= since]
            if runs:
                run = runs[-1]
                ti = {t["task_id"]: t for t in self.task_instances(dag_id, run.run_id)}.get(task_id, {})
                seen = f"run {run.run_id} {run.state}, {task_id} {ti.get('state')} (try {ti.get('try_number')})"
                if ti.get("state") == state and (state != "running" or ti.get("hostname")):
                    return run.run_id, ti
                if run.finished:
                    break
            time.sleep(0.2)
        raise KcdataError(f"Airflow: {dag_id}.{task_id} was never seen {state} ({seen})")

    def wait_until_idle(self, timeout: float = 420, window: timedelta = timedelta(hours=6)) -> None:
        """Until no DAG run (queued in the last `window`) is queued or running: every worker slot
        and every DAG's one active run is free for what comes next."""
        since = datetime.now(timezone.utc) - window
        deadline = time.monotonic() + timeout
        while busy := [f"{r.dag_id} {r.run_id}" for r in self.runs("~", since=since) if r.state in ("queued", "running")]:
            if time.monotonic() > deadline:
                raise KcdataError(f"Airflow: still busy after {timeout:.0f} s: {', '.join(busy)}")
            time.sleep(1)
