"""Benchmark: land + validate + transform at growing sizes, against a plain-DuckDB floor.

For each resource and size: generate the department's file (as `kcdata sample` does, in the
encoding the entry declares), run each stage in its own fresh process (wall time, peak RSS), then
the floor, the same reading, checks, split and aggregation in plain DuckDB SQL derived from the
catalog entry (bench/ingest_floor.py), in the same run. Prints a table, saves the figures as
JSON and draws them log-log (PNG). At the smallest size it also reports the fixed costs (imports
of each stage, dbt parse; Airflow's task start with `--airflow`), and with `--publish` the
publish cost at `--publish-rows`. See bench/README.md.

    .venv/bin/python bench/bench_ingest.py --sizes 100000,1000000 [--resources KC-STHJ-001,KC-SCJG-001]
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest_stages import DBT_PARSE, FLOOR, STAGES, StageFailed, run_code  # noqa: E402

app = typer.Typer(add_completion=False)
ORDER = ("land", "validate", "transform")
NOT_RUNNING = "not measured (system not running)"


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _keys_env(root: Path) -> dict[str, str]:
    """A keys file of the run's own (mode 0600, values never shown); the variables that would
    override it are removed from the children's environment."""
    from common.keys import ALL_KEYS, KEYS_FILE_VARIABLE, ensure_keys_file

    keys = root / "keys.env"
    ensure_keys_file(keys)
    env = {k: v for k, v in os.environ.items() if k not in ALL_KEYS and k != "KCDATA_CATALOG_URL"}
    return {**env, KEYS_FILE_VARIABLE: str(keys), "GX_ANALYTICS_ENABLED": "False", "DO_NOT_TRACK": "1"}


def _run_size(resource, rows: int, folder: Path, base_env: dict, stages: list[str], bad_share: float, say) -> tuple[dict, Path]:
    """Generate, run the stages and the floor for one size; the run's figures and the sample file."""
    from samples.generate import generate_resource

    env = {**base_env, "KCDATA_LAKE": str(folder / "lake"), "KCDATA_INBOX": str(folder / "inbox")}
    started = time.perf_counter()
    sample = generate_resource(resource, folder / "outbox", rows=rows, bad_share=bad_share)
    run: dict = {"rows": rows, "file_mib": round(sample.path.stat().st_size / 2**20, 1),
                 "generate_s": round(time.perf_counter() - started, 2), "bad_rows": sample.bad_rows, "stages": {}}
    params = {"CODE": resource.code, "FILE": str(sample.path), "OUT": str(folder)}
    needed = ORDER[: max(ORDER.index(s) for s in stages) + 1]
    for name in needed:
        say(f"  {resource.code} {rows:,} rows: {name}{'' if name in stages else ' (needed, not measured)'}")
        measured = run_code(STAGES[name], env, params)
        if name in stages:
            run["stages"][name] = measured.to_dict()
    say(f"  {resource.code} {rows:,} rows: floor")
    run["floor"] = run_code(FLOOR, env, params).to_dict()
    measured_stages = run["stages"].values()
    run["total_s"] = round(sum(s["wall_s"] for s in measured_stages), 3)
    run["total_peak_rss_mib"] = max((s["peak_rss_mib"] for s in measured_stages), default=0)
    run["total_vs_floor"] = round(run["total_s"] / run["floor"]["wall_s"], 2)
    for s in measured_stages:
        s["vs_floor"] = round(s["wall_s"] / run["floor"]["wall_s"], 2)
    return run, sample.path


def _fixed_cost(run: dict, folder: Path, base_env: dict, say) -> dict:
    """Imports per stage (timed inside each stage's process) and dbt parse, at this size."""
    fixed: dict = {"rows": run["rows"], "imports_s": {n: round(s.get("imports", 0.0), 2) for n, s in run["stages"].items()}}
    if "transform" in run["stages"]:
        say("  dbt parse (full, then partial)")
        env = {**base_env, "KCDATA_LAKE": str(folder / "lake"), "KCDATA_INBOX": str(folder / "inbox")}
        try:
            parse = run_code(DBT_PARSE, env, {})
            fixed["dbt_parse_s"] = {"full": round(parse.report["full"], 2), "partial": round(parse.report["partial"], 2),
                                    "imports": round(parse.report.get("imports", 0.0), 2)}
        except StageFailed as exc:
            fixed["dbt_parse_s"] = f"not measured ({str(exc).strip().splitlines()[-1][:200]})"
    return fixed


def _airflow(resource, sample: Path, root: Path, state: dict, say) -> dict | str:
    """Airflow's task start for a real delivery of `sample`; or why it was not measured."""
    from bench.ingest_system import airflow_task_start, bring_up, system_running

    if not system_running():
        return NOT_RUNNING
    if "api" not in state:
        system = root / "system"
        os.environ.update({"KCDATA_LAKE": str(system / "lake"), "KCDATA_INBOX": str(system / "inbox")})
        os.environ.pop("KCDATA_CATALOG_URL", None)
        say("  bringing the running system onto the benchmark's lake (kcdata up)")
        state["api"] = bring_up(lambda m: say(f"    {m}"))
    from common.settings import get_paths

    say(f"  {resource.code}: a real delivery through Airflow")
    try:
        return airflow_task_start(state["api"], resource, sample, get_paths())
    except Exception as exc:  # noqa: BLE001 - the benchmark reports what it could not measure
        return f"not measured ({type(exc).__name__}: {str(exc)[:200]})"


def _publish(resource, folder: Path, base_env: dict, say) -> dict | str:
    from bench.ingest_system import PUBLISH, system_running

    if not system_running():
        return NOT_RUNNING
    say(f"  {resource.code}: open view + publish to the local CKAN")
    env = {**base_env, "KCDATA_LAKE": str(folder / "lake"), "KCDATA_INBOX": str(folder / "inbox")}
    try:
        measured = run_code(PUBLISH, env, {"CODE": resource.code})
    except StageFailed as exc:
        return f"not measured (publish failed: {str(exc).strip().splitlines()[-1][:200]})"
    report = measured.report
    return {"action": report["action"], "phases_s": {k: round(v, 2) for k, v in report["phases"].items()},
            "wall_s": round(measured.wall, 2), "peak_rss_mib": round(measured.rss_mib, 1), "rows": None}


def _print(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    for code, entry in results["resources"].items():
        table = Table(title=f"{code} {entry['name_en']} — {entry['encoding']} CSV, {entry['items']} items, "
                            f"{results['bad_share']:.0%} bad rows (each stage a fresh process; × = wall ÷ floor)")
        for col in ("rows", "stage", "wall s", "peak RSS MiB", "× floor", "imports s", "note"):
            table.add_column(col, justify="right" if col not in ("stage", "note") else "left")
        for run in sorted(entry["runs"], key=lambda r: r["rows"]):
            label = f"{run['rows']:,}"
            for name, s in run["stages"].items():
                table.add_row(label, name, f"{s['wall_s']:.1f}", f"{s['peak_rss_mib']:.0f}", f"{s['vs_floor']:.1f}",
                              f"{s.get('imports', 0):.1f}", str(s.get("note", ""))[:55])
                label = ""
            table.add_row("", "[bold]land+validate+transform[/bold]", f"{run['total_s']:.1f}", f"{run['total_peak_rss_mib']:.0f}",
                          f"[bold]{run['total_vs_floor']:.1f}[/bold]", "", f"{run['file_mib']} MiB file")
            f = run["floor"]
            table.add_row("", "DuckDB floor", f"{f['wall_s']:.1f}", f"{f['peak_rss_mib']:.0f}", "1.0",
                          f"{f.get('imports', 0):.1f}", str(f.get("note", ""))[:55], end_section=True)
        console.print(table)
        _print_extras(console, entry)


def _print_extras(console, entry: dict) -> None:
    fixed = entry.get("fixed_cost")
    if fixed:
        imports = ", ".join(f"{k} {v:.1f} s" for k, v in fixed["imports_s"].items())
        console.print(f"  fixed cost at {fixed['rows']:,} rows: python imports {imports}")
        parse = fixed.get("dbt_parse_s")
        if isinstance(parse, dict):
            console.print(f"  dbt parse: full {parse['full']:.1f} s, partial {parse['partial']:.1f} s "
                          f"(dbt imports {parse['imports']:.1f} s)")
        elif parse:
            console.print(f"  dbt parse: {parse}")
    airflow = entry.get("airflow_task_start")
    if isinstance(airflow, dict):
        console.print(f"  Airflow ({airflow['dag_id']}, {airflow['state']}): marker → run queued {_s(airflow['marker_to_queued_s'])}, "
                      f"run {_s(airflow['run_s'])}, mean task start (queued → running → first line of code) "
                      f"{_s(airflow['mean_task_start_s'])}")
        for task, t in airflow["tasks"].items():
            console.print(f"    {task:<10} {t['state']:<8} queued → running {_s(t['queued_to_running_s'])}, "
                          f"running → code {_s(t['running_to_code_s'])}, task {_s(t['task_s'])}")
    else:
        console.print(f"  Airflow task start: {airflow}")
    publish = entry.get("publish")
    if isinstance(publish, dict):
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in publish["phases_s"].items())
        console.print(f"  publish at {publish['rows']:,} rows ({publish['action']}): {phases}; process {publish['wall_s']:.1f} s, "
                      f"peak RSS {publish['peak_rss_mib']:.0f} MiB")
    else:
        console.print(f"  publish cost: {publish}")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


@dataclass(frozen=True)
class Options:
    bad_share: float
    airflow: bool
    publish: bool
    publish_rows: int
    keep: bool


def _run_resource(resource, row_counts: list[int], chosen: list[str], root: Path, base_env: dict, state: dict,
                  opts: Options, say) -> dict:
    """Every size of one resource, its fixed cost at the smallest, publishing at `publish_rows`."""
    entry: dict = {
        "name_en": resource.name_en, "table": resource.table, "encoding": resource.source.encoding,
        "items": len(resource.source_items), "stages": chosen, "runs": [],
        "airflow_task_start": "not measured (--airflow not given)", "publish": "not measured (--publish not given)",
    }
    for rows in row_counts:
        folder = root / f"{resource.table}-{rows}"
        run, sample = _run_size(resource, rows, folder, base_env, chosen, opts.bad_share, say)
        entry["runs"].append(run)
        if rows == row_counts[0]:
            entry["fixed_cost"] = _fixed_cost(run, folder, base_env, say)
            if opts.airflow:
                entry["airflow_task_start"] = _airflow(resource, sample, root, state, say)
        if opts.publish and rows == opts.publish_rows:
            entry["publish"] = _publish(resource, folder, base_env, say)
            if isinstance(entry["publish"], dict):
                entry["publish"]["rows"] = rows
        if not opts.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if opts.publish and opts.publish_rows not in row_counts:
        entry["publish"] = f"not measured ({opts.publish_rows:,} rows not among --sizes)"
    return entry


@app.command()
def main(
    sizes: Annotated[str, typer.Option(help="comma-separated row counts")] = "100000,1000000,10000000",
    resources: Annotated[str, typer.Option(help="resource codes (long: air quality; wide: enterprises)")] = "KC-STHJ-001,KC-SCJG-001",
    stages: Annotated[str, typer.Option(help="stages to measure (earlier ones they need still run)")] = "land,validate,transform",
    bad_share: Annotated[float, typer.Option(help="share of bad rows in the generated files")] = 0.02,
    workdir: Annotated[Optional[Path], typer.Option(help="where lakes and files go (default: a temporary folder, removed)")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="figures (default bench/results/ingest-<date>.json)")] = None,
    png: Annotated[Optional[Path], typer.Option(help="plot (default: the JSON path with .png)")] = None,
    airflow: Annotated[bool, typer.Option(help="Airflow task start on the running system (moved to the benchmark's lake)")] = False,
    publish: Annotated[bool, typer.Option(help="measure publishing to the running system's CKAN at --publish-rows")] = False,
    publish_rows: Annotated[int, typer.Option(help="the size whose publish cost is measured")] = 1_000_000,
    keep: Annotated[bool, typer.Option(help="keep each size's lake and files")] = False,
) -> None:
    """Wall time, peak RSS and ratio to the DuckDB floor per resource, size and stage."""
    from bench.ingest_plot import draw
    from catalog.entries import get_resource

    row_counts = sorted(int(s) for s in _csv(sizes))
    chosen = [s for s in ORDER if s in _csv(stages)]
    if not chosen or set(_csv(stages)) - set(ORDER):
        raise typer.BadParameter(f"--stages: some of {', '.join(ORDER)}")
    root = workdir or Path(tempfile.mkdtemp(prefix="kcdata-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    today = date.today().isoformat()
    json_out = json_out or ROOT / "bench" / "results" / f"ingest-{today}.json"
    png = png or json_out.with_suffix(".png")
    base_env = _keys_env(root)
    say = lambda m: print(m, flush=True)  # noqa: E731

    from importlib.metadata import version

    results: dict = {
        "date": today, "rev": _rev(), "bad_share": bad_share, "sizes": row_counts,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": version("duckdb")},
        "resources": {},
    }
    state: dict = {}
    try:
        for code in _csv(resources):
            results["resources"][code] = _run_resource(get_resource(code), row_counts, chosen, root, base_env, state,
                                                       Options(bad_share, airflow, publish, publish_rows, keep), say)
    except StageFailed as exc:
        raise SystemExit(f"a stage failed:\n{exc}") from None
    finally:
        if workdir is None and not keep:  # the system's lake stays while the services run on it
            for child in root.iterdir():
                if not (child.name == "system" and "api" in state):
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
    for key, figure in (("delivery_100k_s", lambda r: r["total_s"]), ("floor_100k_s", lambda r: r["floor"]["wall_s"])):
        found = {code: figure(r) for code, e in results["resources"].items() for r in e["runs"] if r["rows"] == 100_000 and "floor" in r}
        if found:  # issue 25's names for land + validate + transform at 100k rows, and the floor, per resource
            results[key] = found
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    draw(results, png)
    _print(results)
    print(f"figures: {json_out}\nplot: {png}")
    if "api" in state:
        print("the Airflow services now run on the benchmark's lake: `kcdata up` in your shell points them back at yours")


if __name__ == "__main__":
    app()
