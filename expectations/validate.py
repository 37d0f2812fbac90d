"""Validate a raw batch with its GX suite; split rows into lake/validated and lake/quarantine.

Every raw row ends up in exactly one of the two, so accepted + quarantined = input rows.

GX runs on one of two engines (`KCDATA_GX_ENGINE`):
- `duckdb` (the default): GX's SQL execution over the typed rows, through an in-memory DuckDB
  (expectations/gx_duckdb.py is the shim that makes GX 1.24 work there). Every expectation sees the
  whole delivery, so uniqueness is exact at any size, and the failing rows never enter Python: each
  failed expectation's own `unexpected_index_query` is run in DuckDB to collect its row ids.
- `pandas`: GX on pandas DataFrames of at most KCDATA_VALIDATE_CHUNK_ROWS rows, cut by a hash of the key so that
  the key's duplicates meet; other unique items are checked over the whole delivery in DuckDB
  afterwards. Slower (a Python pass per value), kept to compare the two side by side.
Both give the same failing rows, rules and counts (tests/expectations/test_engine_equivalence.py).
"""
from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.model import Resource
from common.atomic import staged_dir, sweep_stale_temps
from common.errors import KcdataError
from common.lake import DATA_FILE, FEEDBACK_FILE, OUTCOME_FILE, Zone
from common.problems import problem, unknown_column_problems
from common.settings import Paths, get_paths, read_settings
from common.sqltext import ident, literal
from expectations.coerce import coercion_sql, trimmed_counts_sql
from expectations.ragged import create_ragged_cells
from expectations.report import SHAPE_RULES
from expectations.suite import COERCION, ROW_ID, build_suite, rules_signature

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier

Failure = tuple[int, str, str, str]  # a failing row: (row, rule, column, value)

FAILURE_SCHEMA = ("_row", "rule", "column", "value")
_gx_view_lock = threading.Lock()  # GX reads one view (gx_context.gx_table): one validation at a time per process


def gx_engine() -> str:
    """The engine GX validates on: KCDATA_GX_ENGINE, `duckdb` unless set to `pandas`."""
    return read_settings().gx_engine


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
    rules: str = ""  # signature of the rules validated under
    delivery_problems: list[dict] = field(default_factory=list)  # drift: unknown / missing optional columns
    skipped: bool = False
    gx_run: str = ""  # the GX run name of the validation result (its Data Docs page)

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    @property
    def verdict(self) -> str:
        """Why a version passed or is held back, in the words the catalog and feedback use."""
        if self.passed:
            return f"passed: {self.bad_share:.1%} of rows quarantined, limit {self.max_bad_share:.1%}"
        if not self.rows:
            return "held back: the delivery has no data rows"
        return problem("version-held-back").render("en", share=f"{self.bad_share:.1%}", limit=f"{self.max_bad_share:.1%}")

    def to_dict(self) -> dict:
        return asdict(self)



def _chunk_filters(resource: Resource, rows: int) -> list[str]:
    n = max(1, math.ceil(rows / read_settings().validate_chunk_rows))
    if n == 1:
        return ["TRUE"]
    keyed = ", ".join(ident(k) for k in resource.key) or ROW_ID
    return [f"hash({keyed}) % {n} = {i}" for i in range(n)]


def _failed(result: ExpectationSuiteValidationResult) -> Iterator[tuple[ExpectationValidationResult, str, str]]:
    """(expectation result, rule, column) of every failed expectation whose rows are quarantined
    by GX's verdict (coercion problems are taken row by row from the raw batch itself); an
    expectation that could not run fails the validation."""
    for r in result.results:
        _raise_if_broken(r)
        meta = r.expectation_config.meta or {}
        rule = meta.get("rule", "custom")
        if not r.success and rule != "coercion":
            yield r, rule, meta.get("column", "")


def _failures_from_result(result: ExpectationSuiteValidationResult) -> list[Failure]:
    """(row, rule, column, value) for every failing row of every expectation."""
    out: list[Failure] = []
    for r, rule, column in _failed(result):
        index = r.result.get("unexpected_index_list")
        if index is None:
            raise KcdataError(
                f"expectation {r.expectation_config.type} failed without row ids; "
                "hand-written expectations must be row-level (map) expectations"
            )
        for entry in index:
            if isinstance(entry[ROW_ID], list):  # values left out (personal data): row ids only
                out += [(int(row), rule, column, "") for row in entry[ROW_ID]]
                continue
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


def validate_batch(
    resource: Resource, fingerprint: str, paths: Paths | None = None, engine: str | None = None
) -> ValidationOutcome:
    """Type the raw batch `fingerprint`, run the GX suite, write validated + quarantined Parquet.

    The batch is validated under the entry's current rules (`rules_signature`): validated once
    per set of rules, so a changed entry validates the same delivery again and nothing else does.
    A version whose quarantined share exceeds `max_bad_share` still has its rows split (nothing
    is lost), but its outcome says `passed: false`, which keeps it out of dbt and the open view.
    """
    paths = paths or get_paths()
    engine = engine or gx_engine()
    rules = rules_signature(resource)
    vdir = paths.batch_dir(Zone.validated, resource.table, fingerprint, rules)
    qdir = paths.batch_dir(Zone.quarantine, resource.table, fingerprint, rules)
    if (vdir / DATA_FILE).exists() and (vdir / OUTCOME_FILE).exists() and (qdir / DATA_FILE).exists():
        return read_outcome(vdir / OUTCOME_FILE)
    raw_file = paths.batch_file(Zone.raw, resource.table, fingerprint)
    if not raw_file.exists():
        raise KcdataError(f"{resource.code}: no raw batch {fingerprint[:16]} to validate ({raw_file})")
    landing = landing_record(raw_file)
    with _workspace(resource, engine, paths) as con:
        rows = _load(con, resource, raw_file, engine)
        run = gx_run_name(resource, fingerprint, rules)
        if engine == "duckdb":
            gx_success = _run_suite_sql(con, resource, paths, rules, run)
        else:
            gx_success = _run_suite_pandas(con, resource, paths, rows, rules, run)
        _collect_reasons(con, resource)
        create_ragged_cells(con, resource, landing)
        outcome = replace(_outcome(con, resource, landing, rows, rules, gx_success, vdir, qdir), gx_run=run)
        _write(con, resource, landing, outcome, vdir, qdir)
    accepted = _count(vdir / DATA_FILE)
    if accepted + outcome.quarantined != rows:
        raise KcdataError(f"{resource.code}: {accepted} accepted + {outcome.quarantined} quarantined != {rows} rows sent")
    return outcome


@contextmanager
def _workspace(resource: Resource, engine: str, paths: Paths) -> Iterator[DuckDBPyConnection]:
    """The DuckDB connection a validation works in. On the duckdb engine it is a connection to the
    in-memory database GX reads (expectations/gx_duckdb.py), where the typed rows are a real table
    (GX's connection cannot see temp tables) in a scratch database file attached to it
    (`_scratch_database`); one validation at a time in a process (GX reads one view, whatever the
    resource), and GX's view and the scratch file are removed afterwards."""
    if engine != "duckdb":
        from common.lake_store import connect as lake_connection

        con = lake_connection()
        try:
            yield con
        finally:
            con.close()
        return
    from expectations.gx_context import gx_table
    from expectations.gx_duckdb import connect

    with _gx_view_lock, connect() as con, _scratch_database(con, paths, resource):
        try:
            yield con
        finally:
            con.execute(f"DROP VIEW IF EXISTS {ident(gx_table(resource))}")


SCRATCH_DIR = ".validate"  # under the lake's local state: the scratch databases of running validations
SCRATCH_LOCK = "held.lock"  # flocked by the validation using a scratch folder while it runs


@contextmanager
def _scratch_database(con: DuckDBPyConnection, paths: Paths, resource: Resource) -> Iterator[str]:
    """A new DuckDB database file, attached to the shared in-memory validation database as
    `_scratch(resource)` for the typed rows; detached and deleted afterwards.

    Why a file: the rows of a table in an in-memory database stay in memory whatever the memory
    limit (10M typed enterprise rows took 2.4 GiB under a 1 GB limit, and the validate stage
    peaked at 5 GiB). The blocks of a table in a database file are written to it as they fill, so
    DuckDB keeps only what fits its memory limit and reads the rest back when a query needs it.
    GX still connects to the in-memory database by its URL (only its view of the rows lives
    there), so GX's datasource and its one DuckDB configuration are unchanged.

    The file holds decrypted personal values (DuckDB could encrypt it only with its httpfs
    extension, not installed), so it lives only as long as the validation. The folder is flocked
    while the validation runs: a folder left by a process that died (the kernel released its
    lock) is removed by the next validation."""
    import fcntl
    import tempfile

    root = paths.local_state / SCRATCH_DIR
    root.mkdir(parents=True, exist_ok=True)
    _sweep_scratch(root)
    with tempfile.TemporaryDirectory(prefix=f"{resource.table}-", dir=root) as folder:
        lock = Path(folder) / SCRATCH_LOCK
        fd = os.open(lock.with_suffix(".new"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.replace(lock.with_suffix(".new"), lock)  # visible to a sweep only once held
            name = ident(_scratch(resource))
            con.execute(f"ATTACH {literal(str(Path(folder) / 'typed.duckdb'))} AS {name}")
            try:
                yield _scratch(resource)
            finally:
                con.execute(f"DETACH {name}")
        finally:
            os.close(fd)


def _sweep_scratch(root: Path) -> None:
    """Remove the scratch folders under `root` that no running validation holds (a crash's)."""
    import fcntl
    import shutil

    for folder in root.iterdir():
        try:
            fd = os.open(folder / SCRATCH_LOCK, os.O_RDWR)
        except OSError:  # not a scratch folder, or its lock is not held yet: left alone
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # in use
        else:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)


def _scratch(resource: Resource) -> str:
    """The name the scratch database of a validation of `resource` is attached under."""
    return f"kcdata_scratch_{resource.table}"


def gx_run_name(resource: Resource, fingerprint: str, rules: str) -> str:
    """The GX run name of one validation: the resource, the delivery and the rules, and the time
    (a batch validated again under the same rules, after its outputs were removed, is a new run)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{resource.code}.{fingerprint[:16]}.{rules}.{stamp}"


def _gx_run_id(run: str) -> RunIdentifier:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run, run_time=datetime.now(timezone.utc))


def _typed_table(resource: Resource) -> str:
    return f"typed_{resource.table}"


def landing_record(raw_file: Path) -> dict[str, Any]:
    """The landing record the connector stored in the raw batch's Parquet metadata."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(str(raw_file)).metadata or {}
    return json.loads(meta.get(b"kcdata.landing", b"{}"))


def _load(con: DuckDBPyConnection, resource: Resource, raw_file: Path, engine: str) -> int:
    """Views `raw` (the delivery as sent) and `typed` (parsed rows coerced, with per-cell
    problems); returns the rows sent. Batches landed before row problems were kept read as clean.
    An encrypted raw batch is read through pyarrow with the master key (DuckDB gets Arrow).
    On the duckdb engine the typed rows are a table GX can read, and GX's view over them (the
    items, the row id and the coercion summary) is created too."""
    from common.lake_crypto import duckdb_source

    source = duckdb_source(con, raw_file, "raw_batch")
    present = {name for (name, *_) in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    missing = {"_line": "BIGINT", "_problem": "VARCHAR", "_problem_text": "VARCHAR", "_problem_params": "VARCHAR",
               "_problem_cells": "VARCHAR"}
    extra = "".join(f", NULL::{t} AS {n}" for n, t in missing.items() if n not in present)
    # Only the entry's items and the landing's own columns: columns the department sent beyond
    # the entry stay in the raw batch (and its warning names them) but are never read again here
    # (10,000 stray columns cost seconds in every pass over `raw`).
    kept = [c for c in (ROW_ID, *missing, *(i.code for i in resource.items)) if c in present]
    relation = f"SELECT {', '.join(map(ident, kept))}{extra} FROM {source}"
    if engine == "duckdb":
        # The delivery as sent is read about ten times (typing, reasons, warnings, feedback,
        # quarantine). Copied once into the scratch file, it is decrypted once, and later reads
        # are DuckDB's, within its memory limit, not Arrow's decrypting scans with their read-ahead.
        con.execute(f"CREATE TABLE {ident(_scratch(resource))}.raw AS {relation}")
        if source == ident("raw_batch"):  # the decrypting dataset: not needed any more
            import pyarrow as pa

            con.unregister("raw_batch")
            pa.default_memory_pool().release_unused()  # its scan's buffers, else kept by the allocator (~1 GiB at 10M rows)
        relation = f"SELECT * FROM {ident(_scratch(resource))}.raw"
    con.execute(f"CREATE TEMP VIEW raw AS {relation}")
    typed = coercion_sql(resource, present, "(SELECT * FROM raw WHERE _problem IS NULL)")
    if engine == "duckdb":
        from expectations.gx_context import gx_table

        table = f"{ident(_scratch(resource))}.{ident(_typed_table(resource))}"  # in a file: _scratch_database
        con.execute(f"CREATE TABLE {table} AS {typed}")
        con.execute(f"CREATE TEMP VIEW typed AS SELECT * FROM {table}")
        con.execute(f"CREATE OR REPLACE VIEW {ident(gx_table(resource))} AS SELECT {_gx_columns(resource)} FROM {table}")
    else:
        con.execute(f"CREATE TEMP TABLE typed AS {typed}")
    (rows,) = con.execute("SELECT count(*) FROM raw").fetchall()[0]
    return int(rows)


def _gx_columns(resource: Resource) -> str:
    """What GX sees of the typed rows: the row id, the items, and the coercion summary (NULL when
    the connector could read every cell)."""
    items = ", ".join(ident(i.code) for i in resource.source_items)
    summary = "array_to_string(list_transform(_errors, lambda e: e.rule || ':' || e.column), ';')"
    return f"{ROW_ID}, {items}, CASE WHEN len(_errors) > 0 THEN {summary} END AS {COERCION}"


def _result_format(resource: Resource, engine: str) -> dict[str, Any]:
    """Row ids of failing rows; for resources with personal items, no failing values in GX's
    stored results (Data Docs show them): the reasons take the values as sent from the raw batch.
    On SQL, GX returns the query that finds the failing rows instead of fetching them."""
    from common.lake_crypto import personal_codes

    if engine == "duckdb":
        result_format = {"result_format": "BASIC", "return_unexpected_index_query": True}
    else:
        result_format = {"result_format": "COMPLETE"}
    result_format["unexpected_index_column_names"] = [ROW_ID]
    if personal_codes(resource):  # the items encrypted at rest: personal, or undeclared
        result_format["exclude_unexpected_values"] = True
    return result_format


def _raise_if_broken(r: ExpectationValidationResult) -> None:
    """An expectation that could not run fails the validation, naming itself."""
    if r.exception_info and r.exception_info.get("raised_exception"):
        meta = r.expectation_config.meta or {}
        raise KcdataError(
            f"expectation {r.expectation_config.type} on {meta.get('column')} could not run: "
            f"{r.exception_info.get('exception_message')}"
        )


def _run_suite_sql(con: DuckDBPyConnection, resource: Resource, paths: Paths, rules: str, run: str) -> bool:
    """GX on DuckDB SQL over the whole delivery; table `gx_failures` (row, rule, column, value)
    gets the failing rows of every expectation, found in DuckDB by the expectation's own query."""
    from expectations.gx_context import validation_definition

    definition = validation_definition(paths, resource, build_suite(resource, rules), "duckdb")
    result = definition.run(
        run_id=_gx_run_id(run),
        result_format=_result_format(resource, "duckdb"),
        expectation_parameters={"today": datetime.combine(date.today(), time())},
    )
    con.execute('CREATE TEMP TABLE gx_failures (_row BIGINT, rule VARCHAR, "column" VARCHAR, value VARCHAR)')
    for r, rule, column in _failed(result):
        query = _failing_rows_query(resource, r)
        (found,) = con.execute(f"INSERT INTO gx_failures SELECT {ROW_ID}, ?, ?, '' FROM ({query})", [rule, column]).fetchall()[0]
        expected = r.result.get("unexpected_count")
        if expected is not None and found != expected and r.expectation_config.type not in OWN_QUERIES:
            raise KcdataError(
                f"{resource.code}: expectation {r.expectation_config.type} on {column} counted "
                f"{expected} failing rows but its query found {found} (expectations/gx_duckdb.py)"
            )
    return bool(result.success)


# Expectations whose failing rows are found by our own query, not GX's: compound uniqueness (its
# GX index query cannot run, and GX's SQL count leaves out rows with a missing key part, which GX
# on pandas counts: the query follows pandas, so both engines quarantine the same rows).
OWN_QUERIES = ("expect_compound_columns_to_be_unique",)


def _failing_rows_query(resource: Resource, r: ExpectationValidationResult) -> str:
    """SQL for the row ids failing expectation result `r`: GX's own index query, except for
    OWN_QUERIES, written out as the same condition: rows whose values of the columns occur more
    than once (a missing value equal to a missing value, as pandas' `duplicated` has it)."""
    from expectations.gx_context import gx_table

    kwargs = r.expectation_config.kwargs
    if r.expectation_config.type in OWN_QUERIES:
        columns = ", ".join(ident(c) for c in kwargs["column_list"])
        all_missing = " AND ".join(f"{ident(c)} IS NULL" for c in kwargs["column_list"])
        return (
            f"SELECT {ROW_ID} FROM {ident(gx_table(resource))} WHERE NOT ({all_missing}) "
            f"QUALIFY count(*) OVER (PARTITION BY {columns}) > 1"
        )
    query = r.result.get("unexpected_index_query")
    if not query:
        raise KcdataError(
            f"expectation {r.expectation_config.type} failed without row ids; "
            "hand-written expectations must be row-level (map) expectations"
        )
    return query.strip().rstrip(";")


def _run_suite_pandas(con: DuckDBPyConnection, resource: Resource, paths: Paths, rows: int, rules: str, run: str) -> bool:
    """GX on pandas over the typed rows, in chunks, with the suite of `rules`; registers
    `gx_failures` (row, rule, column, value) with every failing row."""
    import pandas as pd

    from expectations.gx_context import validation_definition

    definition = validation_definition(paths, resource, build_suite(resource, rules), "pandas")
    failures: list[tuple] = []
    success = True
    for where in _chunk_filters(resource, rows):
        frame = con.sql(f"SELECT {_gx_columns(resource)} FROM typed WHERE {where}").df()
        if frame.empty:
            continue
        result = definition.run(
            run_id=_gx_run_id(run),
            batch_parameters={"dataframe": frame},
            result_format=_result_format(resource, "pandas"),
            expectation_parameters={"today": pd.Timestamp(date.today())},
        )
        success = success and bool(result.success)
        failures += _failures_from_result(result)
        del frame
    across = _duplicates_across_chunks(con, resource, rows, failures)
    _register_failures(con, failures + across)
    return success and not across


def _duplicates_across_chunks(con: DuckDBPyConnection, resource: Resource, rows: int, found: list[Failure]) -> list[Failure]:
    """Rows of a unique item whose duplicates fell into other chunks: GX sees one chunk at a time,
    and chunks are cut by the key, so only the key's duplicates are sure to meet. Every row whose
    value occurs more than once in the whole delivery fails, as GX would flag it in one frame."""
    if len(_chunk_filters(resource, rows)) == 1:
        return []
    flagged = {(row, column) for row, rule, column, _ in found if rule == "duplicate-key"}
    out: list[Failure] = []
    for item in resource.source_items:
        if not item.unique or resource.key == [item.code]:
            continue
        c = ident(item.code)
        duplicated = con.sql(
            f"SELECT {ROW_ID} FROM typed WHERE {c} IN "
            f"(SELECT {c} FROM typed WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)"
        ).fetchall()
        out += [(int(row), "duplicate-key", item.code, "") for (row,) in duplicated if (int(row), item.code) not in flagged]
    return out


def _register_failures(con: DuckDBPyConnection, failures: list[Failure]) -> None:
    """`gx_failures` from (row, rule, column, value) tuples collected in Python (pandas engine)."""
    import pyarrow as pa

    columns: list[Sequence[object]] = list(zip(*failures, strict=True)) if failures else [[] for _ in FAILURE_SCHEMA]
    fail_table = pa.table(
        [pa.array(c, t) for c, t in zip(columns, (pa.int64(), pa.string(), pa.string(), pa.string()), strict=True)],
        names=list(FAILURE_SCHEMA),
    )
    con.register("gx_failures", fail_table)


def _collect_reasons(con: DuckDBPyConnection, resource: Resource) -> None:
    """Temp table `reasons`: one list of (rule, column, value) per rejected row, values as sent.

    The reader's row problems, the cell problems of coercion, then GX's (`gx_failures`), without
    reporting a cell as "missing" when the department did send a value that could not be read;
    and `shifted-columns` (value: the items' names) for a row where two or more items fail their
    type or shape at once, the mark of values that moved to a neighbouring column."""
    present = {name for (name, *_) in con.execute("DESCRIBE raw").fetchall()}
    compound = len(resource.key) > 1
    as_sent = " ".join(
        f"WHEN {literal(i.code)} THEN r.{ident(i.code)}" for i in resource.source_items if i.code in present
    )
    key_as_sent = ", ".join(f"r.{ident(k)}" for k in resource.key if k in present) or "''"
    sent_value = f"CASE WHEN f.rule = 'duplicate-key' AND {str(compound).upper()} " + (
        f"THEN coalesce(nullif(f.value, ''), concat_ws(' | ', {key_as_sent})) ELSE "
    ) + (
        f"coalesce(CASE f.\"column\" {as_sent} END, f.value) END" if as_sent else "f.value END"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE reasons AS
        WITH parse AS (
            SELECT {ROW_ID}, _problem AS rule, '' AS "column", _problem_text AS value FROM raw WHERE _problem IS NOT NULL
        ), coerced AS (
            SELECT {ROW_ID}, unnest(_errors, recursive := true) FROM typed WHERE len(_errors) > 0
        ), gx AS (
            SELECT f._row, f.rule, f."column", {sent_value} AS value
            FROM gx_failures f JOIN raw r USING ({ROW_ID})
            WHERE NOT (f.rule = 'missing-value'
                       AND EXISTS (SELECT 1 FROM coerced c WHERE c._row = f._row AND c."column" = f."column"))
        ), cells AS (
            SELECT * FROM parse
            UNION ALL SELECT {ROW_ID}, rule, "column", value FROM coerced
            UNION ALL SELECT * FROM gx
        ), shifted AS (
            SELECT {ROW_ID}, 'shifted-columns' AS rule, '' AS "column",
                   array_to_string(list({_item_sql(resource, "name")} ORDER BY {_item_sql(resource, "position")}), '、') AS value
            FROM (SELECT DISTINCT {ROW_ID}, "column" FROM cells WHERE rule IN ({", ".join(map(literal, SHAPE_RULES))}))
            GROUP BY {ROW_ID} HAVING count(*) >= 2
        ), alls AS (
            SELECT * FROM cells UNION ALL SELECT * FROM shifted
        )
        SELECT {ROW_ID}, list({{'rule': rule, 'column': "column", 'value': value}} ORDER BY rule, "column") AS _reasons
        FROM alls GROUP BY {ROW_ID}
        """
    )


def _item_sql(resource: Resource, what: str) -> str:
    """SQL: the `name` of the item a reason's "column" names (else the column), or its `position`
    in the entry (to list a row's items in the catalog's order)."""
    cases = " ".join(
        f"WHEN {literal(i.code)} THEN {literal(i.name) if what == 'name' else n}" for n, i in enumerate(resource.items)
    )
    other = '"column"' if what == "name" else str(len(resource.items))
    return f'CASE "column" {cases} ELSE {other} END'


def _trimmed(con: DuckDBPyConnection, resource: Resource) -> list[dict[str, Any]]:
    """A `trimmed-whitespace` warning per item whose cells lost edge whitespace, with the count."""
    present = {name for (name, *_) in con.execute("DESCRIBE raw").fetchall()}
    query = trimmed_counts_sql(resource, present, "(SELECT * FROM raw WHERE _problem IS NULL)")
    if query is None:
        return []
    result = con.execute(query)
    counts = dict(zip([d[0] for d in result.description], result.fetchall()[0], strict=True))
    return [
        {"code": "trimmed-whitespace", "column": code, "item": resource.item(code).name, "count": int(n)}
        for code, n in counts.items() if n
    ]


def _outcome(
    con: DuckDBPyConnection, resource: Resource, landing: dict[str, Any], rows: int, rules: str, gx_success: bool, vdir: Path, qdir: Path,
) -> ValidationOutcome:
    quarantined = con.execute("SELECT count(*) FROM reasons").fetchall()[0][0]
    by_rule = dict(
        con.execute(
            "SELECT x.rule, count(DISTINCT _row) FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    drift = unknown_column_problems(landing.get("unknown_columns", []))  # 10,000 stray columns: one line
    drift += [
        {"code": "missing-optional-column", "column": code, "item": resource.item(code).name}
        for code in landing.get("absent_items", []) if code in {i.code for i in resource.source_items}
    ]
    drift += _trimmed(con, resource)
    return ValidationOutcome(
        resource=resource.code,
        table=resource.table,
        fingerprint=landing.get("fingerprint", ""),
        rows=rows,
        accepted=rows - quarantined,
        quarantined=quarantined,
        passed=rows > 0 and quarantined <= resource.max_bad_share * rows,
        gx_success=gx_success,
        validated_path=str(vdir / DATA_FILE),
        quarantine_path=str(qdir / DATA_FILE),
        feedback_path=str(qdir / FEEDBACK_FILE),
        validated_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "") + "Z",
        by_rule=by_rule,
        max_bad_share=resource.max_bad_share,
        rules=rules,
        delivery_problems=drift,
    )


def _write(
    con: DuckDBPyConnection, resource: Resource, landing: dict[str, Any], outcome: ValidationOutcome, vdir: Path, qdir: Path,
) -> None:
    """Quarantine (values as sent, reasons, a ragged row's cells, feedback) and validated (typed)
    batches, atomically; personal items and the reasons (which quote values) encrypted
    (common/lake_crypto.py)."""
    from common.lake_crypto import copy_query, personal_codes, protected_columns, require_master_key
    from expectations.report import write_feedback

    personal = personal_codes(resource)
    columns = [i.code for i in resource.source_items] + ["_reasons"]
    if personal:  # before anything is staged
        require_master_key(f"cannot validate {resource.code} batch {outcome.fingerprint[:16]}")
    present = {name for (name, *_) in con.execute("DESCRIBE raw").fetchall()}
    sent = ", ".join(f"r.{ident(i.code)}" if i.code in present else f"NULL::VARCHAR AS {ident(i.code)}" for i in resource.source_items)
    typed = ", ".join(f"t.{ident(i.code)}" for i in resource.source_items)
    # _loaded_at is when the delivery landed: re-validating an old delivery keeps its place in time
    landed_at = datetime.fromisoformat(landing["landed_at"]).astimezone(timezone.utc).replace(tzinfo=None)
    stamp = f"{literal(outcome.fingerprint[:16])} AS _batch, TIMESTAMP {literal(landed_at.isoformat(sep=' '))} AS _loaded_at"
    sweep_stale_temps(vdir.parent)
    sweep_stale_temps(qdir.parent)
    with staged_dir(qdir) as tmp:
        copy_query(
            con,
            f"""SELECT r.{ROW_ID}, r._line, {sent}, {stamp}, q._reasons,
                      array_to_string(list_transform(q._reasons, lambda x: x.rule || '@' || x."column"), '; ') AS _reason,
                      g._cells
                      FROM raw r JOIN reasons q USING ({ROW_ID}) LEFT JOIN ragged_cells g USING ({ROW_ID}) ORDER BY r.{ROW_ID}""",
            tmp / DATA_FILE,
            # _cells: a ragged row's cells as parsed, masked where personal (expectations/ragged.py)
            protected_columns(personal, columns) + (["_cells"] if personal else []),
        )
        write_feedback(con, resource, tmp / FEEDBACK_FILE, outcome)
    with staged_dir(vdir) as tmp:
        copy_query(
            con,
            f"""SELECT t.{ROW_ID}, {typed}, {stamp}
                      FROM typed t ANTI JOIN reasons q USING ({ROW_ID}) ORDER BY t.{ROW_ID}""",
            tmp / DATA_FILE,
            protected_columns(personal, columns),
        )
        # outcome.json is what dbt's validated source reads to leave held-back versions out.
        (tmp / OUTCOME_FILE).write_text(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))


def read_outcome(path: Path) -> ValidationOutcome:
    """The outcome stored beside a validated batch (a re-run reads it instead of validating)."""
    return ValidationOutcome(**{**json.loads(path.read_text()), "skipped": True})


def _count(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(str(path)).num_rows


def build_data_docs(paths: Paths | None = None, outcomes: list[ValidationOutcome] | None = None) -> Path:
    """Render GX Data Docs: for `outcomes`, only their result pages (and the index); without,
    every stored validation result. Returns the index page."""
    from expectations import gx_context

    runs = None if outcomes is None else [o.gx_run for o in outcomes if o.gx_run]
    return gx_context.build_data_docs(paths or get_paths(), runs)
