"""Validate a raw batch with its GX suite; split rows into lake/validated and lake/quarantine.

Every raw row ends up in exactly one of the two, so accepted + quarantined = input rows.
GX runs on pandas chunks of at most CHUNK_ROWS rows; a resource with a key is chunked by a
hash of the key so that duplicates always meet in the same chunk.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from catalog.model import Resource
from connectors.file_drop import LandedBatch, batch_dir
from expectations.suite import COERCION, ROW_ID, build_suite
from kcdata.atomic import staged_dir, sweep_stale_temps
from kcdata.errors import KcdataError
from kcdata.settings import Paths, get_paths
from kcdata.sqltext import ident

CHUNK_ROWS = int(os.environ.get("KCDATA_VALIDATE_CHUNK_ROWS", "1000000"))
FAILURE_SCHEMA = ("_row", "rule", "column", "value")


@dataclass
class ValidationOutcome:
    """The result of validating one batch; small, JSON-friendly, travels through XCom."""

    resource: str
    table: str
    fingerprint: str
    rows: int
    accepted: int
    quarantined: int
    passed: bool
    gx_success: bool
    validated_path: str
    quarantine_path: str
    feedback_path: str
    validated_at: str
    by_rule: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    def to_dict(self) -> dict:
        return asdict(self)



def _chunk_filters(resource: Resource, rows: int) -> list[str]:
    n = max(1, math.ceil(rows / CHUNK_ROWS))
    if n == 1:
        return ["TRUE"]
    keyed = ", ".join(ident(k) for k in resource.key) or ROW_ID
    return [f"hash({keyed}) % {n} = {i}" for i in range(n)]


def _failures_from_result(result) -> list[tuple]:
    """(row, rule, column, value) for every failing row of every expectation."""
    out: list[tuple] = []
    for r in result.results:
        meta = r.expectation_config.meta or {}
        rule = meta.get("rule", "custom")
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise KcdataError(
                f"expectation {r.expectation_config.type} on {meta.get('column')} could not run: "
                f"{r.exception_info.get('exception_message')}"
            )
        if r.success or rule == "coercion":
            continue  # coercion problems are taken row by row from the raw batch itself
        index = r.result.get("unexpected_index_list")
        if index is None:
            raise KcdataError(
                f"expectation {r.expectation_config.type} failed without row ids; "
                "hand-written expectations must be row-level (map) expectations"
            )
        column = meta.get("column", "")
        for entry in index:
            values = [_text(v) for k, v in entry.items() if k != ROW_ID]
            out.append((int(entry[ROW_ID]), rule, column, " | ".join(values)))
    return out


def _text(value: object) -> str:
    """A failing value as the department would recognise it; missing values are empty."""
    import pandas as pd

    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    return str(value)


def validate_batch(resource: Resource, landed: LandedBatch, paths: Paths | None = None) -> ValidationOutcome:
    """Run the GX suite over the raw batch and write validated + quarantined Parquet."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from expectations.gx_context import get_context, validation_definition
    from expectations.report import write_feedback

    paths = paths or get_paths()
    fp = landed.fingerprint
    vdir = batch_dir(paths, "validated", resource.table, fp)
    qdir = batch_dir(paths, "quarantine", resource.table, fp)
    if (vdir / "outcome.json").exists() and (qdir / "data.parquet").exists():
        import json

        return ValidationOutcome(**{**json.loads((vdir / "outcome.json").read_text()), "skipped": True})

    raw = landed.raw_path.replace("'", "''")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet('{raw}', hive_partitioning = false)")
    items = [ident(i.code) for i in resource.items]
    context = get_context(paths)
    definition = validation_definition(context, resource, build_suite(resource))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID]}
    failures: list[tuple] = []
    gx_success = True
    summary = "array_to_string(list_transform(_errors, lambda e: e.rule || ':' || e.column), ';')"
    coercion = f"CASE WHEN len(_errors) > 0 THEN {summary} END AS {COERCION}"
    for where in _chunk_filters(resource, landed.rows):
        frame = con.sql(f"SELECT {ROW_ID}, {', '.join(items)}, {coercion} FROM raw WHERE {where}").df()
        if frame.empty:
            continue
        result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format=result_format,
            expectation_parameters={"today": pd.Timestamp(date.today())},
        )
        gx_success = gx_success and bool(result.success)
        failures += _failures_from_result(result)
        del frame

    columns = list(zip(*failures, strict=True)) if failures else [[] for _ in FAILURE_SCHEMA]
    fail_table = pa.table(
        [pa.array(c, t) for c, t in zip(columns, (pa.int64(), pa.string(), pa.string(), pa.string()), strict=True)],
        names=list(FAILURE_SCHEMA),
    )
    con.register("gx_failures", fail_table)
    # One reason list per row: the connector's cell problems, then GX's, without reporting a
    # cell as "missing" when the department did send a value the connector could not read.
    con.execute(
        f"""
        CREATE TEMP TABLE reasons AS
        WITH coerced AS (
            SELECT {ROW_ID}, unnest(_errors, recursive := true) FROM raw WHERE len(_errors) > 0
        ), gx AS (
            SELECT f.* FROM gx_failures f
            WHERE NOT (f.rule = 'missing-value'
                       AND EXISTS (SELECT 1 FROM coerced c WHERE c._row = f._row AND c."column" = f."column"))
        ), alls AS (
            SELECT {ROW_ID}, rule, "column", value FROM coerced
            UNION ALL SELECT {ROW_ID}, rule, "column", value FROM gx
        )
        SELECT {ROW_ID}, list({{'rule': rule, 'column': "column", 'value': value}} ORDER BY rule, "column") AS _reasons
        FROM alls GROUP BY {ROW_ID}
        """
    )
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = f"'{fp[:16]}' AS _batch, TIMESTAMP '{loaded_at.isoformat(sep=' ')}' AS _loaded_at"
    sweep_stale_temps(vdir.parent)
    sweep_stale_temps(qdir.parent)
    with staged_dir(qdir) as tmp:
        con.execute(
            f"""COPY (SELECT r.{ROW_ID}, {', '.join('r.' + c for c in items)}, {stamp}, q._reasons,
                      array_to_string(list_transform(q._reasons, lambda x: x.rule || '@' || x."column"), '; ') AS _reason
                      FROM raw r JOIN reasons q USING ({ROW_ID}) ORDER BY r.{ROW_ID})
                TO '{tmp / "data.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
        )
        write_feedback(con, resource, tmp / "feedback.csv")
    quarantined = con.execute("SELECT count(*) FROM reasons").fetchone()[0]
    by_rule = dict(
        con.execute(
            "SELECT x.rule, count(DISTINCT _row) FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    rows = landed.rows
    outcome = ValidationOutcome(
        resource=resource.code,
        table=resource.table,
        fingerprint=fp,
        rows=rows,
        accepted=rows - quarantined,
        quarantined=quarantined,
        passed=rows > 0 and quarantined <= resource.max_bad_share * rows,
        gx_success=gx_success,
        validated_path=str(vdir / "data.parquet"),
        quarantine_path=str(qdir / "data.parquet"),
        feedback_path=str(qdir / "feedback.csv"),
        validated_at=loaded_at.isoformat(timespec="seconds") + "Z",
        by_rule=by_rule,
    )
    with staged_dir(vdir) as tmp:
        con.execute(
            f"""COPY (SELECT r.{ROW_ID}, {', '.join('r.' + c for c in items)}, {stamp}
                      FROM raw r ANTI JOIN reasons q USING ({ROW_ID}) ORDER BY r.{ROW_ID})
                TO '{tmp / "data.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
        )
        import json

        (tmp / "outcome.json").write_text(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))
    con.close()
    accepted = _count(vdir / "data.parquet")
    if accepted + quarantined != rows:
        raise KcdataError(
            f"{resource.code}: {accepted} accepted + {quarantined} quarantined != {rows} input rows"
        )
    return outcome


def _count(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def build_data_docs(paths: Paths | None = None) -> Path:
    """Rebuild GX Data Docs for every stored validation result; returns the index page."""
    from expectations.gx_context import get_context

    paths = paths or get_paths()
    get_context(paths).build_data_docs()
    return paths.data_docs_index
