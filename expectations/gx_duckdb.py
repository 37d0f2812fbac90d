"""Great Expectations on DuckDB SQL: the small, version-pinned shim that makes it work.

GX 1.x validates SQL tables through SQLAlchemy, and duckdb-engine is a SQLAlchemy dialect, but
three things stop GX 1.24.1 on DuckDB (each is tested in tests/expectations/test_gx_duckdb_shim.py,
which fails as soon as GX changes them, so the shim is revisited on every GX upgrade):

1. GX opens a connection per query and closes it before the caller fetches the rows, except for
   the dialects in `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS` (SQLite, SQL
   Server, BigQuery, Databricks). DuckDB's cursor dies with its connection, so every metric that
   fetches rows fails. The shim adds DuckDB to that tuple (GX then keeps one connection open).
2. `get_dialect_regex_expression` knows no DuckDB, so regex expectations raise
   NotImplementedError. The shim answers for DuckDB with `regexp_matches` (a search, like the
   pandas engine's `str.contains`) in the metric modules that imported the function.
3. The index query of a compound-uniqueness failure (`unexpected_index_query` of
   expect_compound_columns_to_be_unique) cross-joins the table and leaves a bound parameter, so
   it cannot be run; expectations.validate takes those rows with the same condition instead.

The upstream fix is to add `GXSqlDialect.DUCKDB` to GX's dialect enum, to the persisted-connection
dialects and to `get_dialect_regex_expression`, and to build the compound index query from its
own subquery; docs/concepts/validation.md ("Validation on DuckDB") says so too.

GX validates through a DuckDB in-memory database named by DATABASE_URL: DuckDB shares a named
in-memory database between the connections of one process, so the validator's connection (made
through the same SQLAlchemy dialect, hence the same configuration) and GX's see the same tables,
and the databases attached to it: the typed rows are in a scratch file the validator attaches
(expectations/validate.py, `_scratch_database`), which GX reaches through a view.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from common.codes import ID_CARD_CHECK_CHARS, ID_CARD_WEIGHTS, USCC_CHARSET, USCC_WEIGHTS
from common.lake_store import register_lake
from common.settings import read_settings
from common.sqltext import literal

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

_RegexBuilder = Callable[[Any, str, object, bool], Any]  # GX's get_dialect_regex_expression(column, regex, dialect, positive)

GX_VERSION = "1.24.1"  # the version this shim was written and tested against
DATABASE_URL = "duckdb:///:memory:kcdata_gx"
DIALECT = "duckdb"
REGEX_MODULES = (
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex_list",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex_list",
)

_applied = False
_apply_lock = threading.Lock()


class _DuckDBDialectName(str):
    """'duckdb' shaped like a GXSqlDialect member (GX reads `.value` off the tuple's members)."""

    @property
    def value(self) -> str:
        return str(self)


class UnsupportedGxVersion(RuntimeError):
    """The installed GX is not the version the shim was checked against."""


def apply() -> None:
    """Teach the installed GX to validate on DuckDB (idempotent; refuses another GX version)."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        import importlib

        import great_expectations
        from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

        if great_expectations.__version__ != GX_VERSION:
            raise UnsupportedGxVersion(
                f"expectations/gx_duckdb.py was written for great-expectations {GX_VERSION}, "
                f"not {great_expectations.__version__}: check its three workarounds, then move GX_VERSION"
            )
        persisted = engine_module._PERSISTED_CONNECTION_DIALECTS
        if DIALECT not in persisted:
            engine_module._PERSISTED_CONNECTION_DIALECTS = (*persisted, _DuckDBDialectName(DIALECT))
        for name in REGEX_MODULES:
            module = importlib.import_module(name)
            module.get_dialect_regex_expression = _with_duckdb_regex(module.get_dialect_regex_expression)  # type: ignore[attr-defined]  # GX's, at run time
        _applied = True


def _with_duckdb_regex(original: _RegexBuilder) -> _RegexBuilder:
    """GX's regex builder, answering for DuckDB (RE2 search semantics, like pandas' str.contains)."""

    def get_dialect_regex_expression(column: Any, regex: str, dialect: object, positive: bool = True) -> Any:
        if is_duckdb(dialect):
            import sqlalchemy as sa

            match = sa.func.regexp_matches(column, sa.literal(regex))
            return match if positive else sa.not_(match)
        return original(column, regex, dialect, positive)

    get_dialect_regex_expression.__wrapped__ = original  # type: ignore[attr-defined]  # how GX's own is found again
    return get_dialect_regex_expression


def is_duckdb(dialect: object) -> bool:
    """True for the dialect module or class GX hands a metric when it runs on duckdb-engine."""
    inner = getattr(dialect, "dialect", dialect)
    return getattr(inner, "name", None) == DIALECT or getattr(dialect, "name", None) == DIALECT


def macros_sql() -> str:
    """DuckDB macros for the national code checks, built from the same constants as common.codes
    (so the SQL and the Python check agree by construction). Never NULL: GX counts a row as
    failing where NOT(condition) holds, and NOT NULL would let a bad code through."""
    # the weighted sums spelled out term by term: about 5x faster than a list lambda in DuckDB
    charset, check_chars = literal(USCC_CHARSET), literal(ID_CARD_CHECK_CHARS)
    uscc_sum = " + ".join(f"(instr({charset}, s[{n}]) - 1) * {w}" for n, w in enumerate(USCC_WEIGHTS, 1))
    id_sum = " + ".join(f"TRY_CAST(s[{n}] AS INTEGER) * {w}" for n, w in enumerate(ID_CARD_WEIGHTS, 1))
    return f"""
    CREATE OR REPLACE MACRO kcdata_valid_uscc(s) AS coalesce(
        regexp_full_match(s, {literal(f"[{USCC_CHARSET}]{{18}}")})
        AND substr({charset}, ((31 - ({uscc_sum}) % 31) % 31) + 1, 1) = s[18], false);
    CREATE OR REPLACE MACRO kcdata_valid_id_card(s) AS coalesce(
        regexp_full_match(s, '[0-9]{{17}}[0-9X]')
        AND substr({check_chars}, (({id_sum}) % 11) + 1, 1) = s[18], false);
    """


@contextmanager
def connect() -> Iterator[DuckDBPyConnection]:
    """A DuckDB connection to the shared in-memory database GX validates, with the check macros.

    Made through duckdb-engine like GX's own, so both open the same database (DuckDB refuses a
    second configuration for one database). The caller drops what it created: the database lives
    as long as any connection to it, GX's included."""
    import sqlalchemy as sa

    apply()
    engine = sa.create_engine(DATABASE_URL, poolclass=sa.pool.StaticPool)
    raw = engine.raw_connection()
    try:
        con = cast("DuckDBPyConnection", raw.driver_connection)  # duckdb-engine's driver connection is DuckDB's own
        # past this, DuckDB spills to its temporary folder and evicts the scratch file's blocks
        # (expectations/validate.py): with Python, GX and Arrow, a 10M-row delivery stays within 4 GiB
        con.execute("SET memory_limit = ?", [read_settings().validate_memory_limit])
        con.execute("SET enable_progress_bar = false")  # no progress bars in task logs
        con.execute(macros_sql())
        register_lake(con)  # the raw batch may be on S3
        yield con
    finally:
        raw.close()
        engine.dispose()
