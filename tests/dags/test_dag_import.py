"""The DAG files parse cleanly, cheaply, and without touching a database or the network."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from catalog.entries import load_catalog
from catalog.model import OpenType
from orchestration.topology import CHAIN, DBT_POOL, PUBLISH, PUBLISH_POOL, mart_names, pull_dag_id, system_dag_ids

DAGS = Path(__file__).parents[2] / "dags"

PROBE = textwrap.dedent(
    """
    import importlib.util, json, socket, sys
    def refuse(*a, **k):
        raise RuntimeError("network access while parsing DAGs")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    found = {}
    for path in sorted(__import__("pathlib").Path(sys.argv[1]).glob("*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, value in vars(module).items():
            if type(value).__name__ == "DAG":
                found[value.dag_id] = {"tasks": sorted(value.task_dict), "tags": sorted(value.tags)}
    heavy = [m for m in ("great_expectations", "dbt", "pandas", "duckdb", "pyarrow") if m in sys.modules]
    print(json.dumps({"dags": found, "heavy": heavy}))
    """
)


def _parse_in_fresh_process(tmp_path: Path) -> dict:
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        # A database that cannot exist: parsing must never need one.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-kcdata-dir/airflow.db",
        "PATH": "",
    }
    out = subprocess.run([sys.executable, "-c", PROBE, str(DAGS)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


CHAIN_TASKS = ["ingest", "leak_gate", "notify", "plan", "publish", "report", "score_metadata", "transform"]


def _pull_cycles() -> list[str]:
    return [r.update_cycle.value for r in load_catalog() if r.source.kind != "file_drop"]


def test_the_topology_does_not_grow_with_the_catalog_and_parsing_stays_light(tmp_path):
    parsed = _parse_in_fresh_process(tmp_path)
    dags = parsed["dags"]
    assert dags[CHAIN]["tasks"] == CHAIN_TASKS
    assert dags[PUBLISH]["tasks"] == ["leak_gate", "publish", "score_metadata"]
    for cycle in _pull_cycles():  # a pull DAG per update cycle of a pulled source, not per resource
        assert dags[pull_dag_id(cycle)]["tasks"] == ["notify", "pull", "report"]
    # the topology module names every DAG the files define, and nothing else: no DAG per resource
    assert set(dags) == set(system_dag_ids(_pull_cycles()))
    assert len(dags) <= 3 + 8
    assert parsed["heavy"] == [], f"heavy modules imported at parse time: {parsed['heavy']}"


def test_airflow_dagbag_reports_no_import_errors(airflow_db):
    from orchestration.airflow_run import load_dags

    dags = load_dags()
    chain = dags[CHAIN]
    ingest, transform = (chain.task_dict[t] for t in ("ingest", "transform"))
    # the ingest task makes its events through one alias per zone, for the tables it changed only
    assert [o.name for o in ingest.outlets] == ["kcdata.lake.validated"]
    # the transform reads every resource's validated rows; dbt writes every mart and every
    # resource's current rows, then one open view per openable resource is written from them
    assert {a.uri for a in transform.inlets} == {f"kcdata://lake/validated/{r.table}" for r in load_catalog()}
    openable = [r for r in load_catalog() if r.open.type is not OpenType.none]
    assert {a.uri for a in transform.outlets} == {f"kcdata://lake/curated/{m}" for m in mart_names()} | {
        f"kcdata://lake/curated/resources/{r.table}" for r in load_catalog()
    } | {f"kcdata://lake/open/{r.table}" for r in openable}
    assert transform.pool == DBT_POOL  # one dbt run at a time
    assert chain.task_dict["publish"].pool == dags[PUBLISH].task_dict["publish"].pool == PUBLISH_POOL  # one publisher
    assert type(dags[PUBLISH].timetable).__name__ == "NullTimetable"  # by hand or after an approval


def test_deliveries_are_events_of_one_watcher_with_a_reconciliation_clock(airflow_db):
    """The chain runs on marker events from one AssetWatcher over the whole inbox (a trigger the
    triggerer can rebuild from its classpath), on a pull run's announcement, or on the
    reconciliation clock."""
    from orchestration.airflow_run import load_dags
    from orchestration.delivery_trigger import DeliveryMarkerTrigger

    timetable = load_dags()[CHAIN].timetable
    inbox, pulled = timetable.asset_condition.objects
    (watcher,) = inbox.watchers
    assert isinstance(watcher.trigger, DeliveryMarkerTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "orchestration.delivery_trigger.DeliveryMarkerTrigger"
    assert kwargs["root"].endswith("/inbox")
    assert pulled.name == "kcdata.changes.raw"
    assert timetable.timetable.expression == "*/10 * * * *"  # and a clock for the runs events missed


def test_reconciliation_can_be_turned_off(airflow_db, monkeypatch):
    """`KCDATA_RECONCILE_CRON=off`: the chain runs on events alone; a cron given instead replaces
    the default."""
    from orchestration.airflow_run import load_dags

    monkeypatch.setenv("KCDATA_RECONCILE_CRON", "off")
    timetable = load_dags()[CHAIN].timetable
    assert not hasattr(timetable, "timetable")  # no clock
    assert [a.name for a in timetable.asset_condition.objects] == ["kcdata.inbox", "kcdata.changes.raw"]
    monkeypatch.setenv("KCDATA_RECONCILE_CRON", "0 2 * * *")
    assert load_dags()[CHAIN].timetable.timetable.expression == "0 2 * * *"


def test_a_new_system_takes_its_first_deliveries_by_their_events_not_by_the_clock(airflow_db, monkeypatch):
    """The chain has no start date and its clock does not run at once: on a new system started a
    minute after a tick, the clock's first run is the next tick, not a run made at once for the tick
    just missed, which would take the first deliveries as a clock run."""
    from datetime import datetime, timezone

    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from orchestration.airflow_run import load_dags

    chain = load_dags()[CHAIN]
    assert chain.start_date is None
    timetable = coerce_to_core_timetable(chain.timetable)  # as the scheduler has it
    started = pendulum.datetime(2026, 12, 7, 6, 41, 25, tz="UTC")  # 1.4 min after the */10 tick
    monkeypatch.setattr("airflow.timetables.trigger.utcnow", lambda: started)
    first = timetable.next_dagrun_info(last_automated_data_interval=None,
                                       restriction=TimeRestriction(earliest=None, latest=None, catchup=False))
    assert first is not None and first.run_after == datetime(2026, 12, 7, 6, 50, tzinfo=timezone.utc)
