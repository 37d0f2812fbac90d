"""The DAG files parse cleanly, cheaply, and without touching a database or the network."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from catalog.entries import load_catalog
from catalog.model import OpenType
from orchestration.topology import DBT_POOL, OPEN_VIEW, PUBLISH, TRANSFORM, mart_names, system_dag_ids

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


def test_every_catalog_resource_gets_an_ingest_dag_and_parsing_stays_light(tmp_path):
    parsed = _parse_in_fresh_process(tmp_path)
    dags = parsed["dags"]
    for resource in load_catalog():
        assert dags[f"ingest__{resource.table}"]["tasks"] == ["land", "notify", "validate"]
        assert resource.provider.slug in dags[f"ingest__{resource.table}"]["tags"]
    assert dags["transform__curated"]["tasks"] == ["dbt_build"]
    assert dags["govern__open_view"]["tasks"] == ["open_views"]
    assert dags["publish__portal"]["tasks"] == ["leak_gate", "publish", "score_metadata"]
    # the topology module names every DAG the files define, and nothing else
    assert set(dags) == set(system_dag_ids([r.table for r in load_catalog()]))
    assert parsed["heavy"] == [], f"heavy modules imported at parse time: {parsed['heavy']}"


def test_airflow_dagbag_reports_no_import_errors(airflow_db):
    from orchestration.airflow_run import load_dags

    dags = load_dags()
    assert "transform__curated" in dags
    transform = dags["transform__curated"]
    # each downstream stage is scheduled on one alias through which the stage before announces
    # what it changed, whatever the catalog's size
    assert transform.timetable.asset_condition.name == "kcdata.changes.validated"
    assert dags[OPEN_VIEW].timetable.asset_condition.name == "kcdata.changes.curated.resources"
    assert dags[PUBLISH].timetable.asset_condition.name == "kcdata.changes.open"
    # dbt reads every resource's validated rows; it writes every mart and every resource's current rows
    assert {a.uri for a in transform.tasks[0].inlets} == {f"kcdata://lake/validated/{r.table}" for r in load_catalog()}
    outlets = {getattr(a, "uri", a.name) for a in transform.tasks[0].outlets}
    assert outlets == {f"kcdata://lake/curated/{m}" for m in mart_names()} | {
        f"kcdata://lake/curated/resources/{r.table}" for r in load_catalog()
    } | {"kcdata.changes.curated.resources"}
    # the open view is a stage of its own: it reads dbt's output and writes one view per openable resource
    (open_task,) = dags[OPEN_VIEW].tasks
    assert {a.uri for a in open_task.inlets} == {f"kcdata://lake/curated/resources/{r.table}" for r in load_catalog()}
    openable = [r for r in load_catalog() if r.open.type is not OpenType.none]
    assert {getattr(a, "uri", a.name) for a in open_task.outlets} == {f"kcdata://lake/open/{r.table}" for r in openable} | {
        "kcdata.changes.open"
    }
    assert TRANSFORM in dags
    assert transform.tasks[0].pool == DBT_POOL  # one dbt run at a time


def test_deliveries_are_events_with_a_reconciliation_clock(airflow_db):
    """Each file-drop resource's ingest DAG runs on its inbox's marker events (an AssetWatcher
    whose trigger the triggerer can rebuild from its classpath) or on the reconciliation clock."""
    from orchestration.airflow_run import load_dags
    from orchestration.delivery_trigger import DeliveryMarkerTrigger

    dags = load_dags()
    for resource in load_catalog():
        timetable = dags[f"ingest__{resource.table}"].timetable
        asset = timetable.asset_condition
        (watcher,) = asset.watchers
        assert isinstance(watcher.trigger, DeliveryMarkerTrigger)
        classpath, kwargs = watcher.trigger.serialize()
        assert classpath == "orchestration.delivery_trigger.DeliveryMarkerTrigger"
        assert kwargs["directory"].endswith(f"/{resource.table}")
        assert timetable.timetable.expression == "*/10 * * * *"  # and a clock for the runs events missed


def test_reconciliation_can_be_turned_off_for_a_big_catalog(airflow_db, monkeypatch):
    """`KCDATA_RECONCILE_CRON=off`: a file-drop resource runs on its marker events alone (no
    reconciliation run of every ingest DAG, which a thousand resources cannot afford every 10
    minutes); a cron given instead replaces the default."""
    from orchestration.airflow_run import load_dags

    file_drop = next(r for r in load_catalog() if r.source.kind == "file_drop")
    monkeypatch.setenv("KCDATA_RECONCILE_CRON", "off")
    timetable = load_dags()[f"ingest__{file_drop.table}"].timetable
    assert not hasattr(timetable, "timetable")  # no clock
    assert timetable.asset_condition.name == f"kcdata.inbox.{file_drop.table}"
    monkeypatch.setenv("KCDATA_RECONCILE_CRON", "0 2 * * *")
    assert load_dags()[f"ingest__{file_drop.table}"].timetable.timetable.expression == "0 2 * * *"

