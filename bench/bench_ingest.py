"""Benchmark: land + validate + transform for N rows of one resource, against a plain-DuckDB floor.

Prints wall time and peak memory (RSS) of each stage, each run in its own process, next to the
same work done by one plain DuckDB script (read the CSV, cast, check, split, aggregate).

    .venv/bin/python bench/bench_ingest.py --rows 1000000 [--resource KC-STHJ-001]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False)

STAGES = {
    "land": """
        from catalog.entries import get_resource
        from connectors.file_drop import land_file
        import json, pathlib
        b = land_file(get_resource(CODE), pathlib.Path(FILE))
        pathlib.Path(OUT, "landed.json").write_text(json.dumps(b.to_dict()))
    """,
    "validate": """
        from catalog.entries import get_resource
        from connectors.file_drop import LandedBatch
        from kcdata.pipeline import validate_landed
        import json, pathlib
        b = LandedBatch(**json.loads(pathlib.Path(OUT, "landed.json").read_text()))
        r = validate_landed(get_resource(CODE), [b])[0]
        print("accepted", r.outcome.accepted, "quarantined", r.outcome.quarantined)
    """,
    "transform": """
        from kcdata.pipeline import transform
        r = transform()
        print(r.rows)
    """,
}

FLOOR = """
    import duckdb
    con = duckdb.connect()
    con.execute(f'''
      CREATE TABLE typed AS
      SELECT row_number() OVER () AS _row,
             "监测站编码" AS station_code, "监测站名称" AS station_name,
             TRY_CAST("监测时间" AS TIMESTAMP) AS monitored_at,
             TRY_CAST("PM2.5浓度" AS DOUBLE) AS pm25, TRY_CAST("PM10浓度" AS DOUBLE) AS pm10,
             TRY_CAST("臭氧浓度" AS DOUBLE) AS o3, TRY_CAST("二氧化氮浓度" AS DOUBLE) AS no2,
             TRY_CAST("二氧化硫浓度" AS DOUBLE) AS so2, TRY_CAST("一氧化碳浓度" AS DOUBLE) AS co
      FROM read_csv('{FILE}', all_varchar = true)''')
    con.execute('''
      CREATE TABLE checked AS
      SELECT *, (station_code IS NULL OR NOT regexp_matches(station_code, '^ZSC[0-9]{3}$')
                 OR monitored_at IS NULL OR pm25 IS NULL OR pm10 IS NULL
                 OR pm25 NOT BETWEEN 0 AND 1000 OR pm10 NOT BETWEEN 0 AND 2000
                 OR count(*) OVER (PARTITION BY station_code, monitored_at) > 1) AS bad
      FROM typed''')
    con.execute(f"COPY (SELECT * EXCLUDE bad FROM checked WHERE NOT bad) TO '{OUT}/floor_validated.parquet'")
    con.execute(f"COPY (SELECT * FROM checked WHERE bad) TO '{OUT}/floor_quarantine.parquet'")
    con.execute(f'''COPY (SELECT station_code, CAST(monitored_at AS DATE) AS day, avg(pm25), avg(pm10), count(*)
                         FROM checked WHERE NOT bad GROUP BY ALL) TO '{OUT}/floor_daily.parquet' ''')
"""


def _run(code: str, env: dict, params: dict) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter; wall seconds, peak RSS in MiB, stdout."""
    header = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", header + textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = "", ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage failed:\n{err[-4000:]}")
    return wall, usage.ru_maxrss / 1024, out.strip().splitlines()[-1] if out.strip() else ""


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="rows to generate")] = 1_000_000,
    resource: Annotated[str, typer.Option(help="resource code (the floor query is written for air quality)")] = "KC-STHJ-001",
    bad_share: Annotated[float, typer.Option(help="share of bad rows")] = 0.02,
    workdir: Annotated[Optional[Path], typer.Option(help="where to put the lake (default: a temp dir)")] = None,
) -> None:
    """Print wall time and peak RSS per stage and for the DuckDB floor, with ratios."""
    from rich.console import Console
    from rich.table import Table

    from catalog.entries import get_resource
    from samples.generate import generate_resource

    root = workdir or Path(tempfile.mkdtemp(prefix="kcdata-bench-"))
    lake = {"KCDATA_LAKE": str(root / "lake"), "KCDATA_INBOX": str(root / "inbox")}
    env = {**os.environ, **lake, "GX_ANALYTICS_ENABLED": "False", "DO_NOT_TRACK": "1"}
    os.environ.update({k: env[k] for k in ("KCDATA_LAKE", "KCDATA_INBOX")})
    t0 = time.perf_counter()
    sample = generate_resource(get_resource(resource), root / "inbox", rows=rows, bad_share=bad_share)
    gen_s = time.perf_counter() - t0
    size_mb = sample.path.stat().st_size / 2**20
    params = {"CODE": resource, "FILE": str(sample.path), "OUT": str(root)}
    results = {name: _run(code, env, params) for name, code in STAGES.items()}
    floor = _run(FLOOR, env, params)

    console = Console(width=120)
    console.print(f"{rows:,} rows of {resource} ({sample.path.name}, {size_mb:.0f} MiB, generated in {gen_s:.1f} s); lake: {root}")
    table = Table(title="land + validate + transform vs one plain DuckDB script")
    for col in ("stage", "wall s", "peak RSS MiB", "× floor time", "note"):
        table.add_column(col)
    total = sum(r[0] for r in results.values())
    for name, (wall, rss, note) in results.items():
        table.add_row(name, f"{wall:.1f}", f"{rss:.0f}", f"{wall / floor[0]:.1f}", note[:60])
    table.add_row("[bold]kcdata total[/bold]", f"{total:.1f}", f"{max(r[1] for r in results.values()):.0f}", f"{total / floor[0]:.1f}", "")
    table.add_row("[bold]DuckDB floor[/bold]", f"{floor[0]:.1f}", f"{floor[1]:.0f}", "1.0", "read_csv + casts + checks + split + daily agg")
    console.print(table)


if __name__ == "__main__":
    app()
