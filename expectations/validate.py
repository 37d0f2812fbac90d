"""Validate a raw batch with its GX suite; split rows into lake/validated and lake/quarantine.

Every raw row ends up in exactly one of the two, so accepted + quarantined = input rows.
GX runs on pandas chunks of at most CHUNK_ROWS rows; a resource with a key is chunked by a
hash of the key so that duplicates always meet in the same chunk.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from catalog.model import Resource
from common.atomic import staged_dir, sweep_stale_temps
from common.errors import KcdataError
from common.lake import DATA_FILE, FEEDBACK_FILE, OUTCOME_FILE, Zone
from common.settings import Paths, get_paths
from common.sqltext import ident, literal
from expectations.suite import COERCION, ROW_ID, build_suite

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
    max_bad_share: float = 0.05
    skipped: bool = False

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    @property
    def verdict_zh(self) -> str:
        if self.passed:
            return f"通过：退回行占比 {self.bad_share:.1%}，上限 {self.max_bad_share:.1%}"
        if not self.rows:
            return "暂不使用：本次提交没有数据行"
        return (
            f"暂不使用：退回行占比 {self.bad_share:.1%} 超过上限 {self.max_bad_share:.1%}，"
            "本版本不进入整理层和开放数据，仍使用上一个通过校验的版本；请修正后重新提交"
        )

    @property
    def verdict(self) -> str:
        """Why a version passed or is held back, in the words the catalog and feedback use."""
        if self.passed:
            return f"passed: {self.bad_share:.1%} of rows quarantined, limit {self.max_bad_share:.1%}"
        if not self.rows:
            return "held back: the delivery has no data rows"
        return (
            f"held back: {self.bad_share:.1%} of rows quarantined exceeds the limit of {self.max_bad_share:.1%}; "
            "the curated marts and the open view keep the last passing version"
        )

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


def validate_batch(resource: Resource, fingerprint: str, paths: Paths | None = None) -> ValidationOutcome:
    """Run the GX suite over the raw batch `fingerprint` and write validated + quarantined Parquet.

    A version whose quarantined share exceeds `max_bad_share` still has its rows split (nothing
    is lost), but its outcome says `passed: false`, which keeps it out of dbt and the open view.
    """
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from expectations.gx_context import get_context, validation_definition
    from expectations.report import write_feedback

    paths = paths or get_paths()
    fp = fingerprint
    vdir = paths.batch_dir(Zone.validated, resource.table, fp)
    qdir = paths.batch_dir(Zone.quarantine, resource.table, fp)
    if (vdir / OUTCOME_FILE).exists() and (qdir / DATA_FILE).exists():
        return read_outcome(vdir / OUTCOME_FILE)

    raw_file = paths.batch_file(Zone.raw, resource.table, fp)
    if not raw_file.exists():
        raise KcdataError(f"{resource.code}: no raw batch {fp[:16]} to validate ({raw_file})")
    rows = _count(raw_file)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet({literal(str(raw_file))}, hive_partitioning = false)")
    items = [ident(i.code) for i in resource.source_items]
    context = get_context(paths)
    definition = validation_definition(context, resource, build_suite(resource))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID]}
    failures: list[tuple] = []
    gx_success = True
    summary = "array_to_string(list_transform(_errors, lambda e: e.rule || ':' || e.column), ';')"
    coercion = f"CASE WHEN len(_errors) > 0 THEN {summary} END AS {COERCION}"
    for where in _chunk_filters(resource, rows):
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
    quarantined = con.execute("SELECT count(*) FROM reasons").fetchone()[0]
    by_rule = dict(
        con.execute(
            "SELECT x.rule, count(DISTINCT _row) FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    outcome = ValidationOutcome(
        resource=resource.code,
        table=resource.table,
        fingerprint=fp,
        rows=rows,
        accepted=rows - quarantined,
        quarantined=quarantined,
        passed=rows > 0 and quarantined <= resource.max_bad_share * rows,
        gx_success=gx_success,
        validated_path=str(vdir / DATA_FILE),
        quarantine_path=str(qdir / DATA_FILE),
        feedback_path=str(qdir / FEEDBACK_FILE),
        validated_at=loaded_at.isoformat(timespec="seconds") + "Z",
        by_rule=by_rule,
        max_bad_share=resource.max_bad_share,
    )
    with staged_dir(qdir) as tmp:
        con.execute(
            f"""COPY (SELECT r.{ROW_ID}, {', '.join('r.' + c for c in items)}, {stamp}, q._reasons,
                      array_to_string(list_transform(q._reasons, lambda x: x.rule || '@' || x."column"), '; ') AS _reason
                      FROM raw r JOIN reasons q USING ({ROW_ID}) ORDER BY r.{ROW_ID})
                TO {literal(str(tmp / DATA_FILE))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        write_feedback(con, resource, tmp / FEEDBACK_FILE, None if outcome.passed else (outcome.verdict_zh, outcome.verdict))
    with staged_dir(vdir) as tmp:
        con.execute(
            f"""COPY (SELECT r.{ROW_ID}, {', '.join('r.' + c for c in items)}, {stamp}
                      FROM raw r ANTI JOIN reasons q USING ({ROW_ID}) ORDER BY r.{ROW_ID})
                TO {literal(str(tmp / DATA_FILE))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        # outcome.json is what dbt's validated source reads to leave held-back versions out.
        (tmp / OUTCOME_FILE).write_text(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))
    con.close()
    accepted = _count(vdir / DATA_FILE)
    if accepted + quarantined != rows:
        raise KcdataError(
            f"{resource.code}: {accepted} accepted + {quarantined} quarantined != {rows} input rows"
        )
    return outcome


def read_outcome(path: Path) -> ValidationOutcome:
    """The outcome stored beside a validated batch (a re-run reads it instead of validating)."""
    return ValidationOutcome(**{**json.loads(path.read_text()), "skipped": True})


def _count(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def build_data_docs(paths: Paths | None = None) -> Path:
    """Rebuild GX Data Docs for every stored validation result; returns the index page."""
    from expectations.gx_context import get_context

    paths = paths or get_paths()
    get_context(paths).build_data_docs()
    return paths.data_docs_index
