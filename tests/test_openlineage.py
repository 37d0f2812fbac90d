"""OpenLineage events agree with the catalog's lineage: sample deliveries are landed and validated,
dbt runs (alone, then inside the transform DAG through Airflow), and the JSON lines written under
`<lake>/lineage/` are read back as Marquez or DataHub would receive them.

The Airflow run happens in a fresh Python process (still `dag.test()`, in that process): the
provider decides whether to register its listener when Airflow's plugins are first loaded, once
per process, so in the shared pytest process the result would depend on which test ran first.
That process refuses every network connection, so nothing may try to reach the internet.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from catalog.entries import get_resource, load_catalog
from catalog.model import OpenType
from catalog.store import open_store
from common.settings import PROJECT_ROOT, Paths
from flow import pipeline
from orchestration.lineage import dataset_name, openlineage_environment
from orchestration.topology import CHAIN, curated_asset, current_asset, mart_names, open_asset, validated_asset
from samples.generate import generate_resource
from transform.lineage import LAKE_NAMESPACE, URL_ENV, lineage_file

TABLES = ("air_quality_hourly", "enterprise_registrations")
RUN_JOB = "dbt-run-kcdata"

RUN_DAG = textwrap.dedent(
    """
    import json, socket, sys
    def refuse(*args, **kwargs):
        raise RuntimeError("network access from an Airflow run")
    socket.socket.connect = socket.socket.connect_ex = socket.create_connection = refuse
    from orchestration.airflow_run import load_dags, run_dag
    print(run_dag(load_dags()[sys.argv[1]], json.loads(sys.argv[2])))
    """
)


@pytest.fixture
def lineage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file transport, no parent run from the developer's shell, nothing disabled."""
    for name in (URL_ENV, "OPENLINEAGE_DISABLED", "OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID", "OPENLINEAGE_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


def _ingest(paths: Paths, tables: tuple[str, ...]) -> None:
    for table in tables:
        resource = get_resource(table)
        generate_resource(resource, paths.inbox, rows=240, bad_share=0.02, seed=5)
        pipeline.land_inbox(resource, paths)
        assert all(r.outcome.passed for r in pipeline.validate_pending(resource, paths))


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _names(datasets: list[dict]) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in datasets}


def _transform_edges(paths: Paths) -> list:
    """The catalog's validated -> curated edges of every resource."""
    store = open_store(paths.catalog_url)
    edges = [e for r in load_catalog() for e in store.resource(r.code)[2] if e.step == "transform"]
    assert edges, "the catalog recorded no transform lineage"
    return edges


def _assert_catalog_edges_in(events: list[dict], edges: list) -> None:
    """Every edge: some completed job read its source and wrote its target (names by dataset_name)."""
    jobs = [(_names(e["inputs"]), _names(e["outputs"])) for e in events if e["eventType"] == "COMPLETE"]
    for edge in edges:
        source, target = dataset_name(edge.source_uri), dataset_name(edge.target_uri)
        assert any(source in i and target in o for i, o in jobs), f"no job reads {source} and writes {target} ({edge})"


def test_dataset_names_follow_the_catalog_and_airflow_assets() -> None:
    lake = (LAKE_NAMESPACE, "validated/traffic_flow")
    assert dataset_name("lake://validated/traffic_flow/batch=0123456789abcdef.89abcdef") == lake
    assert dataset_name("lake://validated/traffic_flow") == lake
    assert dataset_name(validated_asset("traffic_flow").uri) == lake
    assert dataset_name("lake://curated/resources/clinics") == dataset_name(current_asset("clinics").uri)
    assert dataset_name(curated_asset("air_quality_daily").uri) == (LAKE_NAMESPACE, "curated/air_quality_daily")
    assert dataset_name("kcdata://inbox/clinics") == ("kcdata://inbox", "clinics")
    assert dataset_name("file:///srv/inbox/%E4%BC%81%E4%B8%9A.csv") == ("file", "/srv/inbox/企业.csv")


def test_events_go_to_the_lake_or_to_an_http_endpoint(lake: Paths, lineage_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    env = openlineage_environment(lake)
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "kcdata"
    assert env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] == "orchestration.lineage.AssetLineageExtractor"
    file = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert file == {"type": "file", "log_file_path": str(lineage_file(lake.lake, "airflow")), "append": True}
    assert Path(file["log_file_path"]).parent.is_dir()

    monkeypatch.setenv(URL_ENV, "http://marquez.internal:5000")
    http = json.loads(openlineage_environment(lake)["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert http == {"type": "http", "url": "http://marquez.internal:5000", "endpoint": "api/v1/lineage"}


def test_dbt_events_agree_with_the_catalog(lake: Paths, lineage_env: None) -> None:
    _ingest(lake, TABLES)
    result = pipeline.transform(lake)
    events = _events(lineage_file(lake.lake, "dbt"))
    by_job: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_job[event["job"]["name"]].append(event)

    # the run as a whole, START first and COMPLETE last, reading validated and writing curated
    run = by_job[RUN_JOB]
    assert [e["eventType"] for e in run] == ["START", "COMPLETE"] and events[0] == run[0] and events[-1] == run[-1]
    assert {(LAKE_NAMESPACE, f"validated/{t}") for t in TABLES} <= _names(run[-1]["inputs"])
    assert {dataset_name(lake.uri_of(path)) for path in result.marts.values()} == _names(run[-1]["outputs"])

    # each model built: its own job, child of the run, writing its lake file under the catalog's name
    for model, path in result.marts.items():
        (job,) = [name for name in by_job if name.endswith(f".{model}.build.run")]
        states = {e["eventType"]: e for e in by_job[job]}
        assert set(states) == {"START", "COMPLETE"}, job
        complete = states["COMPLETE"]
        assert complete["inputs"], job
        assert _names(complete["outputs"]) == {dataset_name(lake.uri_of(path))}
        assert complete["run"]["facets"]["parent"]["job"]["name"] == RUN_JOB
    for table in TABLES:
        (job,) = [name for name in by_job if name.endswith(f".stg_{table}.build.run")]
        assert _names(by_job[job][-1]["inputs"]) == {(LAKE_NAMESPACE, f"validated/{table}")}

    # no lake location keeps dbt's scratch DuckDB name
    scratch = {n for e in events for n in _names(e["inputs"] + e["outputs"]) if n[0].startswith("duckdb://")}
    assert {name.rsplit(".", 1)[-1] for _, name in scratch} <= {"int_air_quality__station_days"}, scratch

    _assert_catalog_edges_in(events, _transform_edges(lake))


def test_airflow_task_events_carry_the_assets_as_lake_datasets(lake: Paths, airflow_db: Path, lineage_env: None) -> None:
    _ingest(lake, TABLES[:1])
    env = {**os.environ, **openlineage_environment(lake)}
    out = subprocess.run(
        [sys.executable, "-c", RUN_DAG, CHAIN, json.dumps({"rebuild": True, "publish": False})], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]

    events = _events(lineage_file(lake.lake, "airflow"))
    task = [e for e in events if e["job"]["name"] == f"{CHAIN}.transform"]
    assert [e["eventType"] for e in task] == ["START", "COMPLETE"]
    assert {e["job"]["namespace"] for e in events} == {"kcdata"}
    complete = task[-1]
    # inputs: the task's inlets, every resource's validated rows; outputs: the task's outlets
    assert _names(complete["inputs"]) == {dataset_name(validated_asset(r.table).uri) for r in load_catalog()}
    outlets = {curated_asset(m).uri for m in mart_names()} | {current_asset(r.table).uri for r in load_catalog()} | {
        open_asset(r.table).uri for r in load_catalog() if r.open.type is not OpenType.none}
    assert _names(complete["outputs"]) == {dataset_name(uri) for uri in outlets}
    assert "unknownSourceAttribute" not in complete["run"]["facets"]
    assert any(e["job"]["name"] == CHAIN and e["eventType"] == "COMPLETE" for e in events), "no DAG-run event"

    _assert_catalog_edges_in(task, _transform_edges(lake))
    # dbt, run by the task, wrote its own events beside them
    dbt = _events(lineage_file(lake.lake, "dbt"))
    assert [e["eventType"] for e in dbt if e["job"]["name"] == RUN_JOB] == ["START", "COMPLETE"]
