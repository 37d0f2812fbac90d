"""The ingest benchmark runs end to end at a tiny size and tells its story: every stage timed in
its own process, a floor that did the same work, the JSON figures and the plot."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_ingest_at_2000_rows_writes_every_stage_the_floor_and_the_plot(tmp_path: Path, processes) -> None:
    figures, plot = tmp_path / "ingest.json", tmp_path / "ingest.png"
    (done,) = processes(
        [sys.executable, "bench/bench_ingest.py", "--sizes", "2000", "--resources", "KC-STHJ-001",
         "--workdir", str(tmp_path / "work"), "--json", str(figures), "--png", str(plot)],
        cwd=ROOT, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "DuckDB floor" in done.stdout and "land+validate+transform" in done.stdout

    results = json.loads(figures.read_text(encoding="utf-8"))
    entry = results["resources"]["KC-STHJ-001"]
    (run,) = entry["runs"]
    assert run["rows"] == 2000
    assert set(run["stages"]) == {"land", "validate", "transform"}
    for stage in run["stages"].values():
        assert stage["wall_s"] > 0 and stage["peak_rss_mib"] > 0 and stage["vs_floor"] > 0
    assert run["floor"]["wall_s"] > 0
    assert run["total_s"] == pytest.approx(sum(s["wall_s"] for s in run["stages"].values()), abs=0.01)
    # the floor did the same checks: it accepts and quarantines the same rows as kcdata
    assert (run["floor"]["accepted"], run["floor"]["quarantined"]) == (
        run["stages"]["validate"]["accepted"], run["stages"]["validate"]["quarantined"])
    assert run["floor"]["marts"] == ["air_quality_daily"]
    assert set(entry["fixed_cost"]["imports_s"]) == {"land", "validate", "transform"}
    assert entry["fixed_cost"]["dbt_parse_s"]["full"] > 0
    assert entry["airflow_task_start"].startswith("not measured")
    assert entry["publish"].startswith("not measured")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
