"""A catalog of 1,000 resources stays workable: the scale benchmark's generated entries are real
entries, Airflow's dag-processor keeps its memory on a big catalog, a task process builds only its
own DAG, and the loaded catalog is cached between processes until an entry changes."""
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

ONE_DAG = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = sys.argv[2]
    spec = importlib.util.spec_from_file_location("kcdata_ingest_probe", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(json.dumps(sorted(v.dag_id for k, v in vars(module).items() if k.startswith("ingest__"))))
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
    """A downstream DAG scheduled on one Asset per resource made the dag-processor's manager read
    3·N² joined rows back at every re-parse: 2 GiB before its second write at 300 resources, and
    the kernel killed it on a running system. Three full parse-and-write cycles of every DAG file,
    the real `airflow dag-processor`, stopped at 2 GiB."""
    scale_catalog(tmp_path / "catalog", 300)
    measured = airflow_dag_processor(tmp_path / "catalog", cycles=3, limit_mib=2048, timeout=300)
    assert measured["died"] is None, measured
    assert measured["cycles"] == 3, measured
    assert measured["peak_rss_mib"] < 1024, measured


def test_a_task_process_builds_only_its_own_ingest_dag(tmp_path):
    scale_catalog(tmp_path / "catalog", 30)
    env = {**os.environ, "KCDATA_CATALOG_DIR": str(tmp_path / "catalog"), "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", ONE_DAG, str(ROOT / "dags" / "kcdata_ingest.py"),
                          "ingest__traffic_flow_x002"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["ingest__traffic_flow_x002"]


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
