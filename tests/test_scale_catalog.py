"""A catalog of 1,000 resources stays workable: the scale benchmark's generated entries are real
entries, Airflow's dag-processor keeps its memory on a big catalog, the DAGs (and the chain's
tasks) do not grow with the catalog, and the loaded catalog is cached between processes until an
entry changes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import dag_processor_memory, scale_catalog  # noqa: E402

# Every DAG file in dags/ parsed in a fresh process, as tests/dags/test_dag_import.py's PROBE does:
# DAG id -> its task ids, and how many inlets its tasks read (these do grow: one Asset per resource)
EVERY_DAG = textwrap.dedent(
    """
    import importlib.util, json, sys
    found = {}
    for path in sorted(__import__("pathlib").Path(sys.argv[1]).glob("*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if type(value).__name__ == "DAG":
                found[value.dag_id] = {"tasks": sorted(value.task_dict),
                                       "inlets": sum(len(t.inlets) for t in value.task_dict.values())}
    print(json.dumps(found))
    """
)


def test_scaled_catalog_entries_are_real_distinct_entries(tmp_path):
    from catalog.entries import load_catalog

    made = scale_catalog(tmp_path / "catalog", 40)
    entries = load_catalog(tmp_path / "catalog")
    assert len(entries) == 40 and len(made) == 31
    assert len({r.code for r in entries}) == len({r.table for r in entries}) == 40
    copy = next(r for r in entries if r.code == made[0])
    original = next(r for r in entries if copy.table.startswith(r.table + "_x"))
    assert [i.code for i in copy.items] == [i.code for i in original.items]


@pytest.fixture
def airflow_dag_processor():
    """`dag_processor_memory(catalog, ...)`: the real `airflow dag-processor`, alone on a fresh
    SQLite metadata DB, as a service of this test's own (tests/tiers.py: integration)."""
    return dag_processor_memory


def test_the_dag_processor_keeps_its_memory_on_a_300_resource_catalog(airflow_dag_processor, tmp_path):
    """A DAG scheduled on one Asset per resource made the dag-processor's manager read 3·N² joined
    rows back at every re-parse: 2 GiB before its second write at 300 resources, and the kernel
    killed it on a running system. The chain still reads (inlets) every resource's Assets: three
    parse-and-write cycles of the chain and the publish DAG, the real `airflow dag-processor`,
    stopped at 2 GiB."""
    scale_catalog(tmp_path / "catalog", 300)
    measured = airflow_dag_processor(tmp_path / "catalog", cycles=3, limit_mib=2048, timeout=300)
    assert measured["died"] is None, measured
    assert measured["cycles"] == 3, measured
    assert measured["peak_rss_mib"] < 1024, measured


def _dags_with(catalog: Path, home: Path) -> dict[str, dict]:
    home.mkdir()
    env = {**os.environ, "KCDATA_CATALOG_DIR": str(catalog), "AIRFLOW_HOME": str(home),
           # a database that cannot exist: parsing must never need one
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-kcdata-dir/airflow.db"}
    out = subprocess.run([sys.executable, "-c", EVERY_DAG, str(ROOT / "dags")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_dags_do_not_grow_with_the_catalog(tmp_path):
    from orchestration.topology import CHAIN

    scale_catalog(tmp_path / "catalog", 300)
    sample = _dags_with(ROOT / "catalog" / "resources", tmp_path / "home-sample")
    scaled = _dags_with(tmp_path / "catalog", tmp_path / "home-scaled")
    assert set(scaled) == set(sample)
    assert scaled[CHAIN]["tasks"] == sample[CHAIN]["tasks"]
    assert "ingest" in scaled[CHAIN]["tasks"]
    assert scaled[CHAIN]["inlets"] > sample[CHAIN]["inlets"]  # the scaled catalog was the one parsed


def test_the_catalog_cache_is_used_and_sees_every_edit(tmp_path, monkeypatch):
    import time

    from catalog.entries import forget_loaded_catalog, get_resource

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    catalog = tmp_path / "catalog"
    scale_catalog(catalog, 12)
    past = time.time() - 60
    for path in catalog.rglob("*.yaml"):
        os.utime(path, (past, past))
    assert get_resource("KC-STHJ-001", catalog).name == "空气质量监测站小时数据"
    cache = tmp_path / "cache" / "kcdata" / "catalog"
    assert len(list(cache.glob("*.pickle"))) == 1 and cache.stat().st_mode & 0o777 == 0o700

    entry = catalog / "ecology_environment" / "air_quality_hourly.yaml"
    text = entry.read_text(encoding="utf-8")
    for old, new in (("空气质量监测站小时数据", "空气质量监测点小时数据"), ("空气质量监测点小时数据", "空气质量监测所小时数据")):
        text = text.replace(f"name: {old}", f"name: {new}")
        entry.write_text(text, encoding="utf-8")  # the same size: only its time tells the change
        forget_loaded_catalog()  # as a new process: only the on-disk cache remains
        assert get_resource("KC-STHJ-001", catalog).name == new
