"""The GX-on-DuckDB shim (expectations/gx_duckdb.py) is needed, works, and is revisited when GX changes.

Each workaround has a test that fails once GX no longer needs it (or changes what it patches), so
an upgrade of great-expectations cannot silently keep a stale patch or drop a needed one.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

from expectations import gx_duckdb  # noqa: E402


def _validate(con, table: str, expectations: list):
    """Run `expectations` with GX's SQL engine on `table` of the shared in-memory DuckDB."""
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql("shim", connection_string=gx_duckdb.DATABASE_URL)
    batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("whole")
    suite = context.suites.add(gx.ExpectationSuite(f"{table}_suite", expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{table}_vd", data=batch, suite=suite))
    return definition.run(
        result_format={"result_format": "BASIC", "unexpected_index_column_names": ["_row"], "return_unexpected_index_query": True}
    )


@pytest.fixture
def table():
    with gx_duckdb.connect() as con:
        con.execute(
            """CREATE OR REPLACE TABLE shim_rows AS SELECT * FROM (VALUES
                 (1, 'ZSC001', 5.0, 'a', 'x'), (2, 'ZSC002', 5.0, 'a', 'y'), (3, NULL, 5.0, 'a', 'z'),
                 (4, 'zsc004', 2000.0, 'b', 'x'), (5, 'ZSC005', 1.0, 'a', 'x')
               ) t(_row, code, v, s, k)"""
        )
        yield con
        con.execute("DROP TABLE shim_rows")


def test_the_shim_is_written_for_the_installed_gx():
    assert gx.__version__ == gx_duckdb.GX_VERSION, "GX moved: re-check the three workarounds in expectations/gx_duckdb.py"


def test_the_shim_refuses_another_gx_version(monkeypatch):
    monkeypatch.setattr(gx, "__version__", "9.9.9")
    monkeypatch.setattr(gx_duckdb, "_applied", False)
    with pytest.raises(gx_duckdb.UnsupportedGxVersion, match="9.9.9"):
        gx_duckdb.apply()


def test_gx_still_lacks_duckdb_so_the_workarounds_are_needed(table):
    """Fails when GX learns DuckDB itself: then drop workarounds 1 and 2."""
    from great_expectations.execution_engine.sqlalchemy_dialect import GXSqlDialect
    from great_expectations.expectations.metrics.column_map_metrics import column_values_match_regex
    from sqlalchemy import column

    assert not any(d.value == "duckdb" for d in GXSqlDialect), "GX knows DuckDB now: retire expectations/gx_duckdb.py"
    original = column_values_match_regex.get_dialect_regex_expression.__wrapped__

    import duckdb_engine

    assert original(column("code"), "^ZSC", duckdb_engine) is None, "GX builds DuckDB regexes now: drop workaround 2"


def test_every_kind_of_expectation_runs_on_duckdb_with_row_ids(table):
    result = _validate(
        table,
        "shim_rows",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="code"),
            gxe.ExpectColumnValuesToMatchRegex(column="code", regex=r"^ZSC\d{3}$"),
            gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, max_value=1000),
            gxe.ExpectColumnValuesToBeInSet(column="s", value_set=["a"]),
            gxe.ExpectColumnValuesToBeUnique(column="k"),
        ],
    )
    failing = {}
    for r in result.results:
        assert not (r.exception_info or {}).get("raised_exception"), r.exception_info
        query = r.result["unexpected_index_query"].strip().rstrip(";")
        failing[r.expectation_config.type] = sorted(row for (row, *_) in table.execute(query).fetchall())
    assert failing == {
        "expect_column_values_to_not_be_null": [3],
        "expect_column_values_to_match_regex": [4],
        "expect_column_values_to_be_between": [4],
        "expect_column_values_to_be_in_set": [4],
        "expect_column_values_to_be_unique": [1, 4, 5],
    }


def test_gx_compound_uniqueness_index_query_still_cannot_run(table):
    """Fails when GX fixes the compound index query: then use it instead of validate.OWN_QUERIES."""
    import duckdb

    result = _validate(table, "shim_rows", [gxe.ExpectCompoundColumnsToBeUnique(column_list=["s", "k"])])
    (r,) = result.results
    assert r.result["unexpected_count"] == 2
    query = r.result["unexpected_index_query"].strip().rstrip(";")
    try:
        rows = table.execute(query).fetchall()
    except duckdb.Error:
        return
    assert sorted(row for (row, *_) in rows) != [1, 5], "GX's compound index query works now: use it"


def test_the_code_check_macros_agree_with_the_python_checks():
    import random

    from common.codes import USCC_CHARSET, id_card_check_char, is_valid_id_card, is_valid_uscc, uscc_check_char

    rng = random.Random(3)
    values = ["", "abc", "９" * 18, "1" * 17 + "x", "I" * 18, None]
    for _ in range(500):
        head = "".join(rng.choice(USCC_CHARSET) for _ in range(17))
        values += [head + uscc_check_char(head), head + rng.choice(USCC_CHARSET)]
        digits = "".join(rng.choice("0123456789") for _ in range(17))
        values += [digits + id_card_check_char(digits), digits + rng.choice("0123456789X")]
    with gx_duckdb.connect() as con:
        rows = con.execute("SELECT v, kcdata_valid_uscc(v), kcdata_valid_id_card(v) FROM unnest(?::VARCHAR[]) t(v)", [values]).fetchall()
    assert all(u is not None and i is not None for _, u, i in rows), "a check must never be NULL (GX would let the row pass)"
    assert [(v, u, i) for v, u, i in rows if (u, i) != (is_valid_uscc(v), is_valid_id_card(v))] == []
    assert sum(1 for _, u, _ in rows if u) >= 500 and sum(1 for *_, i in rows if i) >= 500
