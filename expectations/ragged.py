"""The cells of a ragged row (more or fewer fields than the header), as the reader split them,
for the department's feedback: each under the item its position has in the file's header, and
masked where a personal value may sit.

A ragged row cannot be typed (which field belongs to which item is exactly what is in doubt),
but its cells are what the department needs to find and fix it. A personal item's value may have
moved by as many positions as the row has fields too many (to the right) or too few (to the
left), so every cell such a value could have moved to from a personal (or undeclared, or
unclaimed) column is masked, not only the column's own cell. One SQL statement over the few
ragged rows; batches landed before the reader kept the cells have none (their feedback shows the
masked raw line, as before).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.model import Resource
from common.sqltext import literal

if TYPE_CHECKING:
    import pyarrow as pa
    from duckdb import DuckDBPyConnection

RAGGED = "ragged-row"


def sensitive_positions(resource: Resource, columns: list[str]) -> list[int]:
    """1-based positions of the file's header whose cells may be personal: personal or undeclared
    items, and columns no item claims; none when the resource has no personal item."""
    from common.lake_crypto import personal_codes

    personal = set(personal_codes(resource))
    if not personal:
        return []
    return [n for n, code in enumerate(columns, 1) if code in personal or not code or code.startswith("_unmapped_")]


def _header_table(resource: Resource, columns: list[str]) -> pa.Table:
    """Arrow table (pos, column, sensitive) of the file's header positions, 1-based."""
    import pyarrow as pa

    sensitive = set(sensitive_positions(resource, columns))
    positions = list(range(1, len(columns) + 1))
    return pa.table({"pos": pa.array(positions, pa.int64()), "column": pa.array(columns, pa.string()),
                     "sensitive": pa.array([n in sensitive for n in positions], pa.bool_())})


def create_ragged_cells(con: DuckDBPyConnection, resource: Resource, landing: dict[str, Any]) -> None:
    """Temp table `ragged_cells(_row, _cells)`: for each ragged row of view `raw` whose cells the
    reader kept, a list of {column, value} in file order (column '' past the header), masked.

    A cell is masked when the value of a sensitive header position may have moved to it: with
    fields too many, values moved right by up to the surplus; too few, left by up to the lack. The
    header is a table joined to the cells (a file may have ten thousand columns), not SQL text."""
    from expectations.report import mask_sql

    columns = list(landing.get("columns") or [])
    width = len(columns)
    con.register("ragged_header", _header_table(resource, columns))
    moved = (
        f"(c.n > {width} AND c.pos - h.pos BETWEEN 0 AND c.n - {width}) "
        f"OR (c.n < {width} AND h.pos - c.pos BETWEEN 0 AND {width} - c.n)"
    )
    has_cells = "TRUE" if columns else "FALSE"  # without the header's columns, positions mean nothing
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE ragged_cells AS
            WITH cells AS (
                SELECT _row, unnest(c) AS value, generate_subscripts(c, 1) AS pos, len(c) AS n
                FROM (SELECT _row, CAST(CAST(_problem_cells AS JSON) AS VARCHAR[]) AS c FROM raw
                      WHERE _problem = {literal(RAGGED)} AND _problem_cells IS NOT NULL AND {has_cells})
            ), shown AS (
                SELECT c._row, c.pos, coalesce(own."column", '') AS "column",
                       CASE WHEN EXISTS (SELECT 1 FROM ragged_header h WHERE h.sensitive AND ({moved}))
                            THEN {mask_sql('c.value')} ELSE c.value END AS value
                FROM cells c LEFT JOIN ragged_header own ON own.pos = c.pos
            )
            SELECT _row, list({{'column': "column", 'value': value}} ORDER BY pos) AS _cells FROM shown GROUP BY _row
            """
        )
    finally:
        con.unregister("ragged_header")
