"""Benchmark: what protection costs at 1M rows, as ratios measured in one run.

- **Treatments**: the open view of a resource whose items are masked (name, phone, ID number),
  generalised (month, grid, age band, small counts) and pseudonymised (HMAC-SHA256, two columns:
  one with 1M distinct values, one with 300), against the open view of the same rows keeping
  every column as it is (the governance stage with nothing to do but copy).
- **Encryption at rest**: the same rows written as a lake batch with the personal columns under
  Parquet modular encryption (common/lake_crypto.py) against plain Parquet; read back whole with
  the key; and scanned by DuckDB (distinct counts of the personal columns) through the decrypting
  Arrow dataset against `read_parquet` of the plain file.

Each figure is the best of `--repeat` runs; keys are generated for the run in a temporary keys file.

    .venv/bin/python bench/bench_protection.py [--rows 1000000] [--repeat 3] [--json out.json]
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.sqltext import literal  # noqa: E402

app = typer.Typer(add_completion=False)
FINGERPRINT = "be" * 32


def _item(code: str, type_: str = "C", sensitivity: str = "public", treatment: Any = None) -> dict:
    fields: dict[str, Any] = {"name": code, "code": code, "type": type_, "sensitivity": sensitivity}
    return fields | ({"treatment": treatment} if treatment is not None else {})


ITEMS = [
    _item("visit_no"),
    _item("visitor", sensitivity="personal", treatment={"mask": "name"}),
    _item("mobile", sensitivity="personal", treatment={"mask": "phone"}),
    _item("id_no", sensitivity="sensitive_personal", treatment={"mask": "id_card"}),
    _item("person", sensitivity="personal", treatment="pseudonymise"),  # 1M distinct values
    _item("inspector", sensitivity="personal", treatment="pseudonymise"),  # 300 distinct values
    _item("visited_at", "T", "personal", {"generalise": "month"}),
    _item("lon", "N", "internal", {"generalise": {"grid": 0.01}}),
    _item("age", "I", "personal", {"generalise": {"band": 10}}),
    _item("household", "I", "internal", {"generalise": {"suppress_below": 5}}),
    _item("district"),
]

ROWS_SQL = """SELECT printf('V%08d', i) AS visit_no, '张' || (i % 5000)::VARCHAR || '丰' AS visitor,
    '138' || lpad((i % 100000000)::VARCHAR, 8, '0') AS mobile, '4401121990' || lpad(i::VARCHAR, 8, '0') AS id_no,
    'P' || i::VARCHAR AS person, '检查员' || (i % 300)::VARCHAR AS inspector,
    TIMESTAMP '2026-01-01' + to_seconds(i * 7) AS visited_at, 113.4 + (i % 20000) / 100000.0 AS lon,
    (i % 90)::BIGINT AS age, (i % 40)::BIGINT AS household, '黄埔区' AS district,
    i::BIGINT AS _row, {batch} AS _batch, TIMESTAMP '2026-05-01' AS _loaded_at
    FROM range({rows}) t(i)"""


def _resource(table: str, treated: bool):
    from catalog.model import Provider, Resource

    items = ITEMS if treated else [{k: v for k, v in i.items() if k != "treatment"} | {"sensitivity": "public"} for i in ITEMS]
    provider = Provider(name="测试局", name_en="Bench bureau", code="11440100BENCH00014", slug="bench")
    return Resource.model_validate({
        "code": f"KC-BNCH-{'002' if treated else '001'}", "table": table, "name": "基准", "name_en": "Bench",
        "category": "基础信息资源/测试", "provider": provider, "summary": "基准测试", "format": "电子表格",
        "items": items, "key": ["visit_no"], "share": {"type": "无条件共享"}, "open": {"type": "无条件开放"},
        "update_cycle": "每日", "published_at": "2026-01-01", "grade": "一般", "source": {"format": "csv"},
    })


def _best(fn: Callable[[], object], repeat: int, before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _treatments(paths, rows: int, repeat: int) -> dict[str, float]:
    import duckdb

    from common.lake import Zone
    from governance.open_view import build_open_view

    figures = {}
    for label, treated in (("open view, every item kept", False), ("open view with treatments", True)):
        resource = _resource("bench_treated" if treated else "bench_kept", treated)
        current = paths.current_file(resource.table)
        current.parent.mkdir(parents=True, exist_ok=True)
        duckdb.sql(f"COPY ({ROWS_SQL.format(rows=rows, batch=literal(FINGERPRINT[:16]))}) TO {literal(current)} (FORMAT parquet)")
        figures[label] = _best(
            lambda r=resource: build_open_view(r, FINGERPRINT, "bench", paths), repeat,
            before=lambda r=resource: shutil.rmtree(paths.table_dir(Zone.open, r.table), ignore_errors=True),
        )
    return figures


def _encryption(folder: Path, rows: int, repeat: int) -> dict[str, float]:
    import duckdb
    import pyarrow.parquet as pq

    from common.lake_crypto import dataset, parquet_writer, read_table

    table = duckdb.sql(ROWS_SQL.format(rows=rows, batch=literal(FINGERPRINT[:16]))).to_arrow_table()
    personal = [i["code"] for i in ITEMS if i["sensitivity"] in ("personal", "sensitive_personal")]
    batches = table.to_batches(max_chunksize=65_536)
    plain, sealed = folder / "plain" / "data.parquet", folder / "sealed" / "data.parquet"

    def write(path: Path, protect: list[str]) -> None:
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        with parquet_writer(path, table.schema, protect) as writer:
            for batch in batches:
                writer.write_batch(batch)

    count = "SELECT count(DISTINCT visitor), count(DISTINCT mobile), count(DISTINCT id_no) FROM {}"
    plain_sql = count.format(f"read_parquet({literal(plain)})")

    def scan_sealed() -> None:
        con = duckdb.connect()
        con.register("sealed", dataset(sealed))
        con.sql(count.format("sealed")).fetchall()
        con.close()

    return {
        "write, plain": _best(lambda: write(plain, []), repeat),
        "write, personal columns encrypted": _best(lambda: write(sealed, personal), repeat),
        "read whole, plain": _best(lambda: pq.read_table(plain), repeat),
        "read whole, decrypting": _best(lambda: read_table(sealed), repeat),
        "DuckDB scan of personal columns, plain": _best(lambda: duckdb.sql(plain_sql).fetchall(), repeat),
        "DuckDB scan of personal columns, decrypting": _best(scan_sealed, repeat),
    }


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="rows of the benchmark resource")] = 1_000_000,
    repeat: Annotated[int, typer.Option(help="runs per figure; the best is kept")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the figures here")] = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from common.keys import KEYS_FILE_VARIABLE, ensure_keys_file

    work = Path(tempfile.mkdtemp(prefix="kcdata-bench-protection-"))
    try:
        ensure_keys_file(work / "keys.env")
        os.environ[KEYS_FILE_VARIABLE] = str(work / "keys.env")
        for name in ("KCDATA_MASTER_KEY", "KCDATA_PSEUDONYM_KEY", "KCDATA_SIGNING_KEY"):
            os.environ.pop(name, None)
        os.environ["KCDATA_LAKE"] = str(work / "lake")
        from common.settings import get_paths

        treatments = _treatments(get_paths(), rows, repeat)
        encryption = _encryption(work / "sealing", rows, repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pairs = [
        ("treatments: open view", treatments["open view, every item kept"], treatments["open view with treatments"]),
        ("encryption: write", encryption["write, plain"], encryption["write, personal columns encrypted"]),
        ("encryption: read whole", encryption["read whole, plain"], encryption["read whole, decrypting"]),
        ("encryption: DuckDB scan", encryption["DuckDB scan of personal columns, plain"],
         encryption["DuckDB scan of personal columns, decrypting"]),
    ]
    table = Table(title=f"Protection at {rows:,} rows (best of {repeat})")
    for column in ("step", "without (s)", "with (s)", "ratio"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step, without, with_ in pairs:
        table.add_row(step, f"{without:.2f}", f"{with_:.2f}", f"{with_ / without:.2f}x")
    Console().print(table)
    if json_out:
        json_out.write_text(json.dumps({"rows": rows, "repeat": repeat, "seconds": {**treatments, **encryption},
                                        "ratios": {step: round(w / wo, 3) for step, wo, w in pairs}}, indent=2))


if __name__ == "__main__":
    app()
